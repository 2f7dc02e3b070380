"""The SimCC coordinate classifiers on per-joint maps (the layers of the 'simcc' head).

SimCC (Li et al., ECCV 2022) on FAMI-Pose's final maps, a variant the published FAMI-Pose code
does not have, attached the way SimCC's code attaches it to HRNet (github.com/leeyegy/SimCC,
lib/models/pose_hrnet.py): each joint's map [h, w] is flattened (row-major, 'b c h w -> b c (h w)')
and classified by two Linear layers into round(W*k) horizontal and round(H*k) vertical bins
(famipose_jax.heads.simcc: bins, targets, loss, decoding). Children mlp_head_x, mlp_head_y
(SimCC's names); weights PyTorch default uniform, biases zero (FAMI-Pose's init_weights zeroes
biases).
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.heads import simcc as simcc_head
from famipose_jax.models import initializers


class SimCCClassifier(nn.Module):
  """[B, h, w, K] maps -> (x logits [B, K, round(W*k)], y logits [B, K, round(H*k)])."""
  num_x_bins: int
  num_y_bins: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, maps: jax.Array) -> tuple[jax.Array, jax.Array]:
    b, h, w, k = maps.shape
    x = jnp.transpose(maps, (0, 3, 1, 2)).reshape(b, k, h * w)
    def classifier(features, name):
      return nn.Dense(features, dtype=self.dtype, param_dtype=jnp.float32,
                      kernel_init=initializers.torch_default_kernel(),
                      bias_init=initializers.zeros, name=name)
    return (classifier(self.num_x_bins, 'mlp_head_x')(x),
            classifier(self.num_y_bins, 'mlp_head_y')(x))


def for_model(model_config, dtype) -> SimCCClassifier:
  """The classifiers of config.model (its image size and SimCC split ratio)."""
  num_x, num_y = simcc_head.simcc_bins(model_config.image_size, model_config.simcc_split_ratio)
  return SimCCClassifier(num_x, num_y, dtype)
