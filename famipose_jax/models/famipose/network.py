"""FAMI-Pose (Liu et al., CVPR 2022; published model Alignment_V15): the network.

Data flow (heatmap resolution h x w = image / 4, C = backbone width, K joints):
  1. One shared HRNet pass over the key frame and the N supporting frames stacked on the batch
     axis ([key; sup_0; ...; sup_{N-1}], B each), so the backbone BN sees all B*(1+N) frames.
  2. Global transformation (global_transformation.py), per supporting frame: warped z_sup_i.
  3. agg_sup = sup_agg_block(concat of the N warped features, N*C channels).
  4. Local calibration (local_calibration.py): c (calibrated key), a (calibrated support).
  5. all_agg = init_feature_agg_block(concat(z_key, a)); heatmaps = agg_final_layer(all_agg).
  Optionally the SimCC classifiers (simcc_classifier.py) on the final maps.
The single-frame HRNet baseline is its own family (models/single_frame/).

Parameter naming rule (how a PyTorch state_dict key becomes a Flax variable path):
  * Strip a 'module.' prefix; 'hrnet.' becomes 'backbone.' (public HRNet pose checkpoints, which
    have no prefix, go under 'backbone.' as a whole).
  * Split on '.', then merge every purely numeric segment into the segment before it with '_':
    layer1.0.conv1 -> layer1_0/conv1, stage2.0.branches.1.2.bn1 -> stage2_0/branches_1_2/bn1,
    stage3.1.fuse_layers.2.0.1.0 -> stage3_1/fuse_layers_2_0_1_0, transition1.1.0.0 ->
    transition1_1_0_0, feat_global_offset_layers.7 -> feat_global_offset_layers_7,
    sup_agg_block.layers.0.downsample.1 -> sup_agg_block/layers_0/downsample_1,
    dcn_offset_1.conv -> dcn_offset_1/conv, dcn_1 -> dcn_1.
  * Leaves: Conv2d/DeformConv2d weight [O, I, kh, kw] -> 'kernel' [kh, kw, I, O]; Linear weight
    [O, I] -> 'kernel' [I, O]; 'bias' -> 'bias'; BatchNorm weight -> 'scale', bias -> 'bias'
    (params), running_mean -> 'mean', running_var -> 'var' (batch_stats); num_batches_tracked
    has no counterpart.
  * The global transformation, local calibration and SimCC head are separate Linen modules that
    share this module's scope, so their children (feat_global_offset_layers_*, combined_feat_layers,
    dcn_*, mlp_head_x, mlp_head_y) sit at the top level exactly like the PyTorch attributes.
"""

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from famipose_jax.models import backbone_pass
from famipose_jax.models import blocks
from famipose_jax.models import hrnet
from famipose_jax.models import simcc_classifier
from famipose_jax.models.famipose import global_transformation
from famipose_jax.models.famipose import local_calibration


class FamiPose(nn.Module):
  """FAMI-Pose network; `config` is the (frozen) model section of the experiment config, its
  own fields in config.famipose (models/famipose/family.py).

  Call: module.apply(variables, key_image [B, H, W, 3], supporting_images [B, N, H, W, 3],
  train=bool, mutable=['batch_stats'] when train) -> dict of float32 arrays:
    heatmaps [B, h, w, K], backbone_heatmaps [B, h, w, K], key_features [B, h, w, C],
    decoded_key [B, h, w, K]; with head 'simcc' also simcc_x [B, K, round(W*k)] and
    simcc_y [B, K, round(H*k)]; supporting_features [B, N, h, w, C],
    global_params ([B, N, 2] translation or [B, N, 2, 3] affine; absent when off),
    warped_support [B, N, h, w, C], aggregated_support, calibrated_key (absent when the local
    calibration is off), calibrated_support (= aggregated_support when off), fused_features
    [B, h, w, C], decoded_fused, decoded_support [B, h, w, K].
  decoded_* are stop_gradient(backbone final_layer(F)) for F = fused_features,
  aggregated_support, key_features: what the published MI terms decode.
  """
  config: ml_collections.FrozenConfigDict

  def setup(self):
    cfg, own = self.config, self.config.famipose
    self.opts = backbone_pass.layer_options(cfg)
    self.backbone = hrnet.HRNet(cfg.backbone, cfg.num_joints, self.opts)
    channels = cfg.backbone.stage4.num_channels[0]
    if own.global_transform != 'none':
      self.global_transformation = global_transformation.GlobalTransformation(
          own.global_transform, own.gtm_channels, own.gtm_num_downsamples,
          tuple(own.gtm_hidden_features), own.warp_align_corners, self.opts)
      nn.share_scope(self, self.global_transformation)
    self.sup_agg_block = blocks.ChainOfBasicBlocks(channels, own.support_blocks, self.opts)
    if own.local_calibration:
      self.local_calibration = local_calibration.LocalCalibration(
          own.combine_blocks, own.dcn_kernel_size, own.dcn_dilation, own.dcn_offset_groups,
          own.dcn_mask_activation, self.opts)
      nn.share_scope(self, self.local_calibration)
    self.init_feature_agg_block = blocks.ChainOfBasicBlocks(channels, own.fusion_blocks,
                                                            self.opts)
    self.agg_final_layer = self.opts.conv(cfg.num_joints, own.head_kernel_size,
                                          padding=own.head_kernel_size // 2, use_bias=True)
    if cfg.head == 'simcc':
      self.simcc_head = simcc_classifier.for_model(cfg, self.opts.dtype)
      nn.share_scope(self, self.simcc_head)

  def __call__(self, key_image: jax.Array, supporting_images: jax.Array,
               train: bool = False) -> dict[str, jax.Array]:
    cfg = self.config
    backbone_pass.check_key_image(key_image, cfg)
    backbone_pass.check_supporting_images(supporting_images, key_image)
    b = key_image.shape[0]
    frames = backbone_pass.stack_frames(key_image, supporting_images)
    # One pass over all B*(1+N) frames: the backbone BN sees them all (the published quirk).
    all_heatmaps, all_features = backbone_pass.backbone_pass(self.backbone, frames, cfg, train)
    key_features = all_features[:b]
    out = {
        'backbone_heatmaps': all_heatmaps[:b],
        'key_features': key_features,
        'decoded_key': jax.lax.stop_gradient(all_heatmaps[:b]),   # = final_layer(z_key)
    }
    out.update(self._temporal(key_features, all_features[b:], train))
    if cfg.head == 'simcc':
      out['simcc_x'], out['simcc_y'] = self.simcc_head(out['heatmaps'])
    return backbone_pass.as_float32(out)

  def _temporal(self, key_features: jax.Array, support_features: jax.Array,
                train: bool) -> dict[str, jax.Array]:
    """Steps 2-5 of the module docstring; support_features [N*B, h, w, C], frame-major."""
    own = self.config.famipose
    b, h, w, c = key_features.shape
    n = support_features.shape[0] // b
    support = jnp.swapaxes(support_features.reshape(n, b, h, w, c), 0, 1)   # [B, N, h, w, C]
    out = {'supporting_features': support}
    if own.global_transform != 'none':
      out['global_params'], warped = self.global_transformation(key_features, support, train)
    else:
      warped = support
    out['warped_support'] = warped
    # Channel concatenation in frame order: [sup_0 C | sup_1 C | ...].
    stacked = jnp.moveaxis(warped, 1, 3).reshape(b, h, w, n * c)
    aggregated = self.sup_agg_block(stacked, train)
    out['aggregated_support'] = aggregated
    if own.local_calibration:
      out['calibrated_key'], calibrated = self.local_calibration(aggregated, key_features, train)
    else:
      calibrated = aggregated
    out['calibrated_support'] = calibrated
    fused = self.init_feature_agg_block(jnp.concatenate([key_features, calibrated], axis=-1),
                                        train)
    out['fused_features'] = fused
    out['heatmaps'] = self.agg_final_layer(fused)
    out['decoded_fused'] = jax.lax.stop_gradient(self.backbone.decode(fused))
    out['decoded_support'] = jax.lax.stop_gradient(self.backbone.decode(aggregated))
    return out
