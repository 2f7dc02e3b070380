"""What every family's network does with the shared HRNet: the one backbone pass, and its rules.

  layer_options  the compute dtype, conv init and BN constants of config.model
  KeyFrameInput  the key image's shape check
  backbone_pass  HRNet over frames stacked on the batch axis, with the published BatchNorm quirk
                 (a frozen backbone still normalises with the batch's statistics) and no
                 gradient into a frozen backbone
  as_float32     the outputs every family returns, in float32 (or float64)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from famipose_jax.models import blocks

# 'float64' (with jax_enable_x64) serves the float64 cross-checks against the published models.
DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float64': jnp.float64}


def layer_options(model_config: ml_collections.ConfigDict) -> blocks.LayerOptions:
  """What every conv and BN layer of the network shares (config.model)."""
  return blocks.LayerOptions(
      dtype=DTYPES[model_config.dtype], conv_init_std=model_config.conv_init_std,
      bn_momentum=model_config.backbone.bn_momentum,
      bn_epsilon=model_config.backbone.bn_epsilon)


def check_key_image(key_image: jax.Array, model_config: ml_collections.ConfigDict) -> None:
  """Raises ValueError unless key_image is [B, H, W, 3] of model.image_size (W, H)."""
  width, height = model_config.image_size
  if key_image.ndim != 4 or key_image.shape[1:] != (height, width, 3):
    raise ValueError(f'key_image must be [B, {height}, {width}, 3] (model.image_size='
                     f'{tuple(model_config.image_size)} is (W, H)), got shape {key_image.shape}')


def check_supporting_images(supporting_images: jax.Array | None, key_image: jax.Array) -> None:
  """Raises ValueError unless supporting_images is [B, N >= 1, H, W, 3] of the key's size."""
  if supporting_images is None:
    raise ValueError('supporting_images is required: this model reads supporting frames')
  b = key_image.shape[0]
  if (supporting_images.ndim != 5 or supporting_images.shape[0] != b
      or supporting_images.shape[2:] != key_image.shape[1:] or supporting_images.shape[1] < 1):
    raise ValueError(f'supporting_images must be [B={b}, N>=1, {key_image.shape[1]}, '
                     f'{key_image.shape[2]}, 3], got shape {supporting_images.shape}')


def stack_frames(key_image: jax.Array, supporting_images: jax.Array) -> jax.Array:
  """[key; sup_0; ...; sup_{N-1}] on the batch axis, B each, frame-major as the published code
  concatenates its chunks: [B*(1+N), H, W, 3]."""
  b, n = supporting_images.shape[:2]
  support = jnp.swapaxes(supporting_images, 0, 1).reshape((n * b,) + key_image.shape[1:])
  return jnp.concatenate([key_image, support.astype(key_image.dtype)], axis=0)


def backbone_pass(backbone: nn.Module, frames: jax.Array, model_config: ml_collections.ConfigDict,
                  train: bool, stage_features: bool = False):
  """(heatmaps [F, h, w, K], features [F, h, w, C]) of the HRNet on `frames` [F, H, W, 3], and
  with stage_features the per-stage features too (hrnet.HRNet: a tuple of 4 [F, h, w, C_s]).

  With model.freeze_backbone no gradient reaches it, but with model.backbone_bn_batch_stats
  (published) its BatchNorm still normalises with the statistics of all F frames in training
  and updates its running statistics.
  """
  backbone_train = train and (not model_config.freeze_backbone
                              or model_config.backbone_bn_batch_stats)
  outputs = backbone(frames, train=backbone_train, stage_features=stage_features)
  if model_config.freeze_backbone:
    outputs = jax.lax.stop_gradient(outputs)
  return outputs


def as_float32(outputs: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """The outputs in float32 (float64 ones, of a float64 run, stay float64)."""
  return {name: value.astype(jnp.promote_types(value.dtype, jnp.float32))
          for name, value in outputs.items()}
