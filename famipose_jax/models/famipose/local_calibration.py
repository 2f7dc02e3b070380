"""Local calibration module (LCM): pixel-wise alignment with modulated deformable convolutions.

As published (Alignment_V15): c = combined_feat_layers(concat(agg_sup, z_key)); then four
DCNv2 stages, each with its own offset conv and mask conv (3x3, dilation 3, padding 3, bias):
  c = DCN1(c; off1(c), m1(c));  c = DCN2(c; off2(c), m2(c))
  a = DCN3(agg_sup; off3(c), m3(c))       (samples the support, steered by c)
  a = DCN4(a; off4(a), m4(a))
with no BN, ReLU or residual between them. The mask is used raw (the code) or through a
sigmoid (the DCNv2 paper), per model.dcn_mask_activation.

Children: combined_feat_layers, dcn_offset_{1..4}/conv, dcn_mask_{1..4}/conv, dcn_{1..4}.
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import blocks
from famipose_jax.models import initializers
from famipose_jax.ops import deform_conv


class DeformConv2d(nn.Module):
  """torchvision DeformConv2d (one weight group) called with offsets and a mask.

  Params: kernel [k, k, Cin, features] (PyTorch default uniform init), bias [features] (zero).
  """
  features: int
  kernel_size: int
  dilation: int
  padding: int
  offset_groups: int
  opts: blocks.LayerOptions
  use_bias: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, offset: jax.Array, mask: jax.Array) -> jax.Array:
    """x [B, H, W, Cin], offset [B, H, W, 2*G*k*k], mask [B, H, W, G*k*k] -> [B, H, W, features]."""
    k = self.kernel_size
    kernel = self.param('kernel', initializers.torch_default_kernel(),
                        (k, k, x.shape[-1], self.features), jnp.float32)
    bias = (self.param('bias', initializers.zeros, (self.features,), jnp.float32)
            if self.use_bias else None)
    dtype = self.opts.dtype
    return deform_conv.modulated_deform_conv(
        x.astype(dtype), offset, mask, kernel.astype(dtype),
        None if bias is None else bias.astype(dtype),
        padding=self.padding, dilation=self.dilation, offset_groups=self.offset_groups)


class LocalCalibration(nn.Module):
  """combined_feat_layers and the four offset/mask/DCN stages."""
  combine_blocks: int
  kernel_size: int
  dilation: int
  offset_groups: int
  mask_activation: str
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, aggregated_support: jax.Array, key_features: jax.Array,
               train: bool) -> tuple[jax.Array, jax.Array]:
    """agg_sup [B, h, w, C], z_key [B, h, w, C] -> (calibrated key c, calibrated support a)."""
    channels = key_features.shape[-1]
    combined = blocks.ChainOfBasicBlocks(channels, self.combine_blocks, self.opts,
                                         name='combined_feat_layers')
    c = combined(jnp.concatenate([aggregated_support, key_features], axis=-1), train)
    c = self._stage(1, c, c, train)
    c = self._stage(2, c, c, train)
    a = self._stage(3, aggregated_support, c, train)
    a = self._stage(4, a, a, train)
    return c, a

  def _stage(self, index: int, x: jax.Array, guide: jax.Array, train: bool) -> jax.Array:
    """DCN{index}(x) with offsets and mask predicted from `guide`."""
    k, groups = self.kernel_size, self.offset_groups
    padding = self.dilation * (k // 2)
    def predictor(features, name):
      return blocks.ConvBNReLU(features, k, self.opts, padding=padding, dilation=self.dilation,
                               use_bias=True, use_bn=False, use_relu=False, name=name)
    offset = predictor(2 * groups * k * k, f'dcn_offset_{index}')(guide, train)
    mask = predictor(groups * k * k, f'dcn_mask_{index}')(guide, train)
    if self.mask_activation == 'sigmoid':
      mask = nn.sigmoid(mask)
    dcn = DeformConv2d(x.shape[-1], k, self.dilation, padding, groups, self.opts,
                       name=f'dcn_{index}')
    return dcn(x, offset, mask)
