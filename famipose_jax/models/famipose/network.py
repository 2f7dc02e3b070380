"""FAMI-Pose (Liu et al., CVPR 2022; published model Alignment_V15) and its single-frame baseline.

Data flow (heatmap resolution h x w = image / 4, C = backbone width, K joints):
  1. One shared HRNet pass over the key frame and the N supporting frames stacked on the batch
     axis ([key; sup_0; ...; sup_{N-1}], B each), so the backbone BN sees all B*(1+N) frames.
  2. Global transformation (global_transformation.py), per supporting frame: warped z_sup_i.
  3. agg_sup = sup_agg_block(concat of the N warped features, N*C channels).
  4. Local calibration (local_calibration.py): c (calibrated key), a (calibrated support).
  5. all_agg = init_feature_agg_block(concat(z_key, a)); heatmaps = agg_final_layer(all_agg).
  Optionally the SimCC classifiers (simcc_classifier.py) on the final maps.
model.temporal=False runs only step 1 on the key frame: the single-frame HRNet baseline.

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

from famipose_jax.config import schema as config_schema
from famipose_jax.heads import simcc as simcc_head
from famipose_jax.models import blocks
from famipose_jax.models.famipose import global_transformation
from famipose_jax.models import hrnet
from famipose_jax.models.famipose import local_calibration
from famipose_jax.models import simcc_classifier

DTYPES = {name: getattr(jnp, name) for name in config_schema.CHOICES['model.dtype']}


class FamiPose(nn.Module):
  """FAMI-Pose network; `config` is the (frozen) model section of the experiment config.

  Call: module.apply(variables, key_image [B, H, W, 3], supporting_images [B, N, H, W, 3] | None,
  train=bool, mutable=['batch_stats'] when train) -> dict of float32 arrays:
    heatmaps [B, h, w, K], backbone_heatmaps [B, h, w, K], key_features [B, h, w, C],
    decoded_key [B, h, w, K]; with head 'simcc' also simcc_x [B, K, round(W*k)] and
    simcc_y [B, K, round(H*k)]; in temporal mode also supporting_features [B, N, h, w, C],
    global_params ([B, N, 2] translation or [B, N, 2, 3] affine; absent when off),
    warped_support [B, N, h, w, C], aggregated_support, calibrated_key (absent when the local
    calibration is off), calibrated_support (= aggregated_support when off), fused_features
    [B, h, w, C], decoded_fused, decoded_support [B, h, w, K].
  decoded_* are stop_gradient(backbone final_layer(F)) for F = fused_features,
  aggregated_support, key_features: what the published MI terms decode.
  """
  config: ml_collections.FrozenConfigDict

  def setup(self):
    cfg = self.config
    self.opts = blocks.LayerOptions(
        dtype=DTYPES[cfg.dtype], conv_init_std=cfg.conv_init_std,
        bn_momentum=cfg.backbone.bn_momentum, bn_epsilon=cfg.backbone.bn_epsilon)
    self.backbone = hrnet.HRNet(cfg.backbone, cfg.num_joints, self.opts)
    channels = cfg.backbone.stage4.num_channels[0]
    if cfg.temporal:
      if cfg.global_transform != 'none':
        self.global_transformation = global_transformation.GlobalTransformation(
            cfg.global_transform, cfg.gtm_channels, cfg.gtm_num_downsamples,
            tuple(cfg.gtm_hidden_features), cfg.warp_align_corners, self.opts)
        nn.share_scope(self, self.global_transformation)
      self.sup_agg_block = blocks.ChainOfBasicBlocks(channels, cfg.support_blocks, self.opts)
      if cfg.local_calibration:
        self.local_calibration = local_calibration.LocalCalibration(
            cfg.combine_blocks, cfg.dcn_kernel_size, cfg.dcn_dilation, cfg.dcn_offset_groups,
            cfg.dcn_mask_activation, self.opts)
        nn.share_scope(self, self.local_calibration)
      self.init_feature_agg_block = blocks.ChainOfBasicBlocks(channels, cfg.fusion_blocks,
                                                              self.opts)
      self.agg_final_layer = self.opts.conv(cfg.num_joints, cfg.head_kernel_size,
                                            padding=cfg.head_kernel_size // 2, use_bias=True)
    if cfg.head == 'simcc':
      num_x, num_y = simcc_head.simcc_bins(cfg.image_size, cfg.simcc_split_ratio)
      self.simcc_head = simcc_classifier.SimCCClassifier(num_x, num_y, self.opts.dtype)
      nn.share_scope(self, self.simcc_head)

  def __call__(self, key_image: jax.Array, supporting_images: jax.Array | None = None,
               train: bool = False) -> dict[str, jax.Array]:
    cfg = self.config
    self._check_images(key_image, supporting_images)
    b = key_image.shape[0]
    frames = key_image
    if cfg.temporal:
      n = supporting_images.shape[1]
      # Frame-major stacking [key; sup_0; ...] as the published code concatenates its chunks.
      support = jnp.swapaxes(supporting_images, 0, 1).reshape((n * b,) + key_image.shape[1:])
      frames = jnp.concatenate([key_image, support.astype(key_image.dtype)], axis=0)

    # A frozen backbone still normalises with batch statistics when the published quirk is on.
    backbone_train = train and (not cfg.freeze_backbone or cfg.backbone_bn_batch_stats)
    all_heatmaps, all_features = self.backbone(frames, train=backbone_train)
    if cfg.freeze_backbone:
      all_heatmaps = jax.lax.stop_gradient(all_heatmaps)
      all_features = jax.lax.stop_gradient(all_features)
    key_features = all_features[:b]
    out = {
        'backbone_heatmaps': all_heatmaps[:b],
        'key_features': key_features,
        'decoded_key': jax.lax.stop_gradient(all_heatmaps[:b]),   # = final_layer(z_key)
    }
    if cfg.temporal:
      out.update(self._temporal(key_features, all_features[b:], train))
    else:
      out['heatmaps'] = out['backbone_heatmaps']
    if cfg.head == 'simcc':
      out['simcc_x'], out['simcc_y'] = self.simcc_head(out['heatmaps'])
    return {name: value.astype(jnp.float32) for name, value in out.items()}

  def _temporal(self, key_features: jax.Array, support_features: jax.Array,
                train: bool) -> dict[str, jax.Array]:
    """Steps 2-5 of the module docstring; support_features [N*B, h, w, C], frame-major."""
    cfg = self.config
    b, h, w, c = key_features.shape
    n = support_features.shape[0] // b
    support = jnp.swapaxes(support_features.reshape(n, b, h, w, c), 0, 1)   # [B, N, h, w, C]
    out = {'supporting_features': support}
    if cfg.global_transform != 'none':
      out['global_params'], warped = self.global_transformation(key_features, support, train)
    else:
      warped = support
    out['warped_support'] = warped
    # Channel concatenation in frame order: [sup_0 C | sup_1 C | ...].
    stacked = jnp.moveaxis(warped, 1, 3).reshape(b, h, w, n * c)
    aggregated = self.sup_agg_block(stacked, train)
    out['aggregated_support'] = aggregated
    if cfg.local_calibration:
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

  def _check_images(self, key_image: jax.Array, supporting_images: jax.Array | None):
    cfg = self.config
    width, height = cfg.image_size
    if key_image.ndim != 4 or key_image.shape[1:] != (height, width, 3):
      raise ValueError(f'key_image must be [B, {height}, {width}, 3] (model.image_size='
                       f'{tuple(cfg.image_size)} is (W, H)), got shape {key_image.shape}')
    if not cfg.temporal:
      return   # supporting frames, if given, are not used by the single-frame baseline
    if supporting_images is None:
      raise ValueError('supporting_images is required when model.temporal=True')
    b = key_image.shape[0]
    if (supporting_images.ndim != 5 or supporting_images.shape[0] != b
        or supporting_images.shape[2:] != key_image.shape[1:] or supporting_images.shape[1] < 1):
      raise ValueError(f'supporting_images must be [B={b}, N>=1, {height}, {width}, 3], got shape '
                       f'{supporting_images.shape}')


def validate_model_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError (a ValueError) naming the model.* field the network cannot use."""
  config_schema.validate_model_section(config)


def build_model(model_config: ml_collections.ConfigDict) -> FamiPose:
  """The network for a config's `model` section (validated, frozen into the module)."""
  validate_model_config(model_config)
  return FamiPose(ml_collections.FrozenConfigDict(model_config))


def input_keys(model_config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The batch images the network reads: the key frame, plus the supporting frames in
  temporal mode (the single-frame baseline reads only the key frame)."""
  return ('key_image', 'supporting_images') if model_config.temporal else ('key_image',)


def example_inputs(model_config: ml_collections.ConfigDict, batch_size: int = 1,
                   num_supporting_frames: int = 4) -> tuple[jax.Array, jax.Array | None]:
  """Zero (key_image, supporting_images) of the model's input size, e.g. for init/eval_shape.

  Initialise with the N used in training: sup_agg_block's input width is N*C.
  """
  width, height = model_config.image_size
  key = jnp.zeros((batch_size, height, width, 3), jnp.float32)
  if 'supporting_images' not in input_keys(model_config):
    return key, None
  return key, jnp.zeros((batch_size, num_supporting_frames, height, width, 3), jnp.float32)
