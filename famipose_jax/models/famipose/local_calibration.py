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
from famipose_jax.models.deformable import DeformConv2d


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
