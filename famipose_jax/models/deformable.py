"""The modulated deformable convolution as a layer (DCNv2, torchvision's DeformConv2d).

The op itself is famipose_jax/ops/deform_conv.py; FAMI-Pose's local calibration and DCPose's
pose correction build on this layer.
"""

from typing import Callable

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import blocks
from famipose_jax.models import initializers
from famipose_jax.ops import deform_conv


class DeformConv2d(nn.Module):
  """torchvision DeformConv2d (one weight group) called with offsets and a mask.

  Params: kernel [k, k, Cin, features] (`kernel_init`: PyTorch's default uniform unless given),
  bias [features] (zero).
  """
  features: int
  kernel_size: int
  dilation: int
  padding: int
  offset_groups: int
  opts: blocks.LayerOptions
  use_bias: bool = True
  kernel_init: Callable = initializers.torch_default_kernel()

  @nn.compact
  def __call__(self, x: jax.Array, offset: jax.Array, mask: jax.Array) -> jax.Array:
    """x [B, H, W, Cin], offset [B, H, W, 2*G*k*k], mask [B, H, W, G*k*k] -> [B, H, W, features]."""
    k = self.kernel_size
    kernel = self.param('kernel', self.kernel_init,
                        (k, k, x.shape[-1], self.features), jnp.float32)
    bias = (self.param('bias', initializers.zeros, (self.features,), jnp.float32)
            if self.use_bias else None)
    dtype = self.opts.dtype
    return deform_conv.modulated_deform_conv(
        x.astype(dtype), offset, mask, kernel.astype(dtype),
        None if bias is None else bias.astype(dtype),
        padding=self.padding, dilation=self.dilation, offset_groups=self.offset_groups)
