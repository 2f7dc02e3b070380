"""PCN, DCPose's pose correction: five modulated deformable convolutions on the merged heatmaps.

For each dilation d of model.dcpose.dcn_dilations (published 3, 6, 9, 12, 15), from the same
64-channel offset/mask feature: offsets_list_i (3x3 conv, dilation d, no bias, 2 * 17 * 9
channels) and masks_list_i (17 * 9 channels) steer modulated_deform_conv_list_i (17 -> 17, 3x3,
dilation d, one weight group, one deformable group per joint) over the PTM's merged heatmaps.
The mask is used raw (the code) or through a sigmoid (DCNv2); the five outputs, each with its
own bias, are averaged (the code's 'weighted_sum') or summed (the paper figure's). The
deformable kernels start as the identity (the published init_weights).
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import blocks
from famipose_jax.models.deformable import DeformConv2d


def identity_kernel(key, shape, dtype=jnp.float32):
  """[k, k, C, C] with 1 at the centre tap from channel c to c: the published DCN init."""
  del key
  k, _, cin, cout = shape
  kernel = jnp.zeros(shape, dtype)
  return kernel.at[k // 2, k // 2].set(jnp.eye(cin, cout, dtype=dtype))


class _DeformableUnit(nn.Module):
  """DCPose's DeformableCONV wrapper: its one child is `deform_conv` (the state_dict's name)."""
  features: int
  kernel_size: int
  dilation: int
  offset_groups: int
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, x, offset, mask):
    padding = self.dilation * (self.kernel_size // 2)
    return DeformConv2d(self.features, self.kernel_size, self.dilation, padding,
                        self.offset_groups, self.opts, kernel_init=identity_kernel,
                        name='deform_conv')(x, offset, mask)


class PoseCorrection(nn.Module):
  """(merged heatmaps [B, h, w, J], feature [B, h, w, 64]) -> (corrected [B, h, w, K], the
  intermediates {'offsets_i', 'masks_i', 'corrections_i'})."""
  num_joints: int
  kernel_size: int
  dilations: tuple[int, ...]
  mask_activation: str
  aggregation: str
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, merged: jax.Array, feature: jax.Array):
    k, groups = self.kernel_size, merged.shape[-1]
    intermediates, corrections = {}, []
    for i, dilation in enumerate(self.dilations):
      padding = dilation * (k // 2)
      def predictor(channels, name, dilation=dilation, padding=padding):
        return self.opts.conv(channels, k, padding=padding, dilation=dilation, use_bias=False,
                              name=name)
      offset = predictor(2 * groups * k * k, f'offsets_list_{i}_0')(feature)
      mask = predictor(groups * k * k, f'masks_list_{i}_0')(feature)
      if self.mask_activation == 'sigmoid':
        mask = nn.sigmoid(mask)
      corrected = _DeformableUnit(self.num_joints, k, dilation, groups, self.opts,
                                  name=f'modulated_deform_conv_list_{i}')(merged, offset, mask)
      intermediates.update({f'offsets_{i}': offset, f'masks_{i}': mask,
                            f'corrections_{i}': corrected})
      corrections.append(corrected)
    total = sum(corrections[1:], corrections[0])
    if self.aggregation == 'mean':
      total = total * (1.0 / len(corrections))
    return total, intermediates
