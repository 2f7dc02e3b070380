"""A network's inputs: which batch entries it reads, their shapes, and the pixels normalised.

What a model reads is its family's (models/registry.py): the key image, the supporting images
of its clip (data_pipeline.clip_frames.ClipSpec, decided by the family from the config), and
the supporting frames' offsets for a family that weighs them. Every input spec below derives
from that one decision.

The data pipeline hands out crops as uint8 RGB, a quarter of the bytes of float32: less to
copy between loader processes, through tf.data and to the accelerator, and no normalisation
on the host. The published ToTensor + Normalize arithmetic, (x / 255 - mean) / std in float32,
runs here inside the jitted step instead. Floating-point images are taken as already
normalised (what the model itself takes), so callers that build their own inputs are unaffected.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from data_pipeline.clip_frames import ClipSpec
from famipose_jax.models import registry

IMAGE_KEYS = (registry.KEY_IMAGE, registry.SUPPORTING_IMAGES)


def clip_of(config: ml_collections.ConfigDict) -> ClipSpec:
  """The frames a sample of `config` holds: its family's decision (the one place it is made)."""
  return registry.of(config).clip(config)


def input_keys(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The batch entries the network reads, in the order it takes them."""
  return registry.of(config).inputs


def input_shapes(model_config: ml_collections.ConfigDict, batch_size: Any,
                 num_supporting: int, *, image_dtype=np.uint8) -> dict[str, tuple]:
  """{input name: (shape, dtype)} of the family's inputs: images [B, H, W, 3] and
  [B, N, H, W, 3] of `image_dtype`, frame offsets [B, N] int32. B may be symbolic."""
  width, height = model_config.image_size
  shapes = {
      registry.KEY_IMAGE: ((batch_size, height, width, 3), image_dtype),
      registry.SUPPORTING_IMAGES: ((batch_size, num_supporting, height, width, 3), image_dtype),
      registry.SUPPORTING_FRAME_OFFSETS: ((batch_size, num_supporting), np.int32),
  }
  return {name: shapes[name] for name in registry.get(model_config.family).inputs}


def example_inputs(model_config: ml_collections.ConfigDict, batch_size: int,
                   num_supporting: int) -> tuple[jax.Array, ...]:
  """Zero inputs of the model's shapes (float32 images), in call order, e.g. for init or
  jax.eval_shape. Initialise with the N the model trains with (FAMI-Pose's sup_agg_block input
  width is N*C)."""
  return tuple(jnp.zeros(shape, jnp.float32 if dtype == np.uint8 else dtype)
               for shape, dtype in input_shapes(model_config, batch_size,
                                                num_supporting).values())


def example_inputs_of(config: ml_collections.ConfigDict, batch_size: int = 1
                      ) -> tuple[jax.Array, ...]:
  """`example_inputs` with the supporting frames of the config's clip."""
  return example_inputs(config.model, batch_size, len(clip_of(config).offsets))


def normalize_pixels(images: jax.Array, mean, std) -> jax.Array:
  """uint8 RGB [..., 3] -> float32 (x / 255 - mean) / std; floating images pass through."""
  if jnp.issubdtype(images.dtype, jnp.floating):
    return images
  if images.dtype != jnp.uint8:
    raise TypeError(f'images must be uint8 pixels or normalised floats, got {images.dtype}')
  x = images.astype(jnp.float32) / jnp.float32(255.0)
  return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def network_inputs(batch, config: ml_collections.ConfigDict) -> tuple[jax.Array, ...]:
  """The network's inputs from a batch, in call order, images normalised."""
  mean, std = tuple(config.data.mean), tuple(config.data.std)
  return tuple(normalize_pixels(batch[key], mean, std) if key in IMAGE_KEYS else batch[key]
               for key in input_keys(config))
