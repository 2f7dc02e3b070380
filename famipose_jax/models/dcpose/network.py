"""DCPose (Liu et al., CVPR 2021; published model DcPose_RSN): the network.

Data flow (heatmap resolution h x w = image / 4, K joints; the published code, which differs
from the paper figure where docs/dcpose.md says):
  1. One shared HRNet pass over [current; previous; next] stacked on the batch axis (the
     published frozen backbone still normalises with the batch's statistics): heatmaps
     H_c, H_p, H_n [B, h, w, K]. DCPose works on heatmaps alone.
  2. Temporal weights w_p, w_n from the frames' distances (temporal_weights.py).
  3. PRF (diff_temporal_fuse): residuals A = H_c - H_p, B = H_c - H_n interleaved per joint
     [A_j, w_p A_j, B_j, w_n B_j] (4K channels) -> residual-steps blocks -> 34 channels.
  4. PTM (support_temporal_fuse): [H_c,j, w_p H_p,j, w_n H_n,j] (3K) -> 17 channels.
  5. offset_mask_combine_conv: concat(PRF, PTM) -> 64 channels.
  6. PCN (pose_correction.py): five dilated modulated DCNs over the PTM output, averaged.

Parameter names follow the published state_dict (docs/pytorch_interop.md's rule), the backbone
`rough_pose_estimation_net` being Flax's `backbone`.
"""

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from famipose_jax.models import backbone_pass
from famipose_jax.models import hrnet
from famipose_jax.models import simcc_classifier
from famipose_jax.models.dcpose import pose_correction
from famipose_jax.models.dcpose import residual_steps
from famipose_jax.models.dcpose.temporal_weights import temporal_weights


def _interleave(maps: list[jax.Array]) -> jax.Array:
  """[B, h, w, K] maps -> [B, h, w, K * len(maps)], channel j * len(maps) + t = maps[t][..., j]."""
  stacked = jnp.stack(maps, axis=-1)
  return stacked.reshape(stacked.shape[:3] + (-1,))


class DCPose(nn.Module):
  """DCPose network; `config` is the (frozen) model section, its own fields in config.dcpose.

  Call: module.apply(variables, key_image [B, H, W, 3], supporting_images [B, 2, H, W, 3]
  (previous, next), supporting_frame_offsets [B, 2] int, train=bool) -> dict of float32:
    heatmaps [B, h, w, K] (the corrected pose), backbone_heatmaps (the current frame's rough
    heatmaps), previous_heatmaps, next_heatmaps, prev_weight, next_weight [B, 1, 1, 1],
    prf_input [B, h, w, 4K], ptm_input [3K], difference_heatmaps [prf_channels],
    support_heatmaps [ptm_channels], combined_features [combine_channels], and per DCN i
    offsets_i, masks_i, corrections_i; with head 'simcc' also simcc_x, simcc_y.
  """
  config: ml_collections.FrozenConfigDict

  def setup(self):
    cfg, own = self.config, self.config.dcpose
    opts = backbone_pass.layer_options(cfg)
    self.backbone = hrnet.HRNet(cfg.backbone, cfg.num_joints, opts)
    chain = residual_steps.ChainOfResidualSteps
    self.diff_temporal_fuse = chain(own.prf_channels, own.prf_blocks, opts)
    self.support_temporal_fuse = chain(own.ptm_channels, own.ptm_blocks, opts)
    self.offset_mask_combine_conv = chain(own.combine_channels, own.combine_blocks, opts)
    self.pose_correction = pose_correction.PoseCorrection(
        cfg.num_joints, own.dcn_kernel_size, tuple(own.dcn_dilations), own.mask_activation,
        own.aggregation, opts)
    nn.share_scope(self, self.pose_correction)
    if cfg.head == 'simcc':
      self.simcc_head = simcc_classifier.for_model(cfg, opts.dtype)
      nn.share_scope(self, self.simcc_head)

  def __call__(self, key_image: jax.Array, supporting_images: jax.Array,
               supporting_frame_offsets: jax.Array, train: bool = False) -> dict[str, jax.Array]:
    cfg = self.config
    backbone_pass.check_key_image(key_image, cfg)
    backbone_pass.check_supporting_images(supporting_images, key_image)
    if supporting_images.shape[1] != 2 or supporting_frame_offsets.shape != (
        key_image.shape[0], 2):
      raise ValueError('DCPose reads two supporting frames (previous, next) and their offsets '
                       f'[B, 2]; got {supporting_images.shape} and '
                       f'{supporting_frame_offsets.shape}')
    b = key_image.shape[0]
    frames = backbone_pass.stack_frames(key_image, supporting_images)
    heatmaps, _ = backbone_pass.backbone_pass(self.backbone, frames, cfg, train)
    current, previous, following = heatmaps[:b], heatmaps[b:2 * b], heatmaps[2 * b:]
    prev_weight, next_weight = temporal_weights(supporting_frame_offsets, current.dtype)

    diff_a, diff_b = current - previous, current - following
    prf_input = _interleave([diff_a, prev_weight * diff_a, diff_b, next_weight * diff_b])
    ptm_input = _interleave([current, prev_weight * previous, next_weight * following])
    difference = self.diff_temporal_fuse(prf_input, train)
    support = self.support_temporal_fuse(ptm_input, train)
    combined = self.offset_mask_combine_conv(jnp.concatenate([difference, support], axis=-1),
                                             train)
    corrected, intermediates = self.pose_correction(support, combined)
    out = {'heatmaps': corrected, 'backbone_heatmaps': current, 'previous_heatmaps': previous,
           'next_heatmaps': following, 'prev_weight': prev_weight, 'next_weight': next_weight,
           'prf_input': prf_input, 'ptm_input': ptm_input, 'difference_heatmaps': difference,
           'support_heatmaps': support, 'combined_features': combined, **intermediates}
    if cfg.head == 'simcc':
      out['simcc_x'], out['simcc_y'] = self.simcc_head(corrected)
    return backbone_pass.as_float32(out)
