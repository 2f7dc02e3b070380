"""Network inputs from batch images: uint8 RGB pixels are normalised on the device.

The data pipeline hands out crops as uint8 RGB, a quarter of the bytes of float32: less to
copy between loader processes, through tf.data and to the accelerator, and no normalisation
on the host. The published ToTensor + Normalize arithmetic, (x / 255 - mean) / std in float32,
runs here inside the jitted step instead. Floating-point images are taken as already
normalised (what the model itself takes), so callers that build their own inputs are unaffected.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from famipose_jax import models


def normalize_pixels(images: jax.Array, mean, std) -> jax.Array:
  """uint8 RGB [..., 3] -> float32 (x / 255 - mean) / std; floating images pass through."""
  if jnp.issubdtype(images.dtype, jnp.floating):
    return images
  if images.dtype != jnp.uint8:
    raise TypeError(f'images must be uint8 pixels or normalised floats, got {images.dtype}')
  x = images.astype(jnp.float32) / jnp.float32(255.0)
  return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def network_inputs(batch, config: ml_collections.ConfigDict):
  """(key image [B, H, W, 3], supporting images [B, N, H, W, 3] or None) as the model takes them."""
  mean, std = tuple(config.data.mean), tuple(config.data.std)
  images = [normalize_pixels(batch[key], mean, std) for key in models.input_keys(config.model)]
  return images[0], (images[1] if len(images) > 1 else None)
