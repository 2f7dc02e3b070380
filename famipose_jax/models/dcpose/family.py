"""DCPose as a model family: its config section, clip and checkpoint names.

config.model.dcpose holds every number of the published DcPose_RSN (github.com/Pose-Group/DCPose,
configs/posetimation/DcPose/posetrack17/model_RSN.yaml) beyond the backbone, the head and the
sizes every family shares. It reads the previous and the next frame at `frame_distance`, the key
frame standing in at a video's ends, and the offsets of the frames it read (its temporal
weights); its only loss is the head's (joint MSE on the corrected heatmaps).
"""

import ml_collections

from data_pipeline.clip_frames import ClipSpec
from data_pipeline.errors import ConfigError
from famipose_jax.models import registry


def section() -> ml_collections.ConfigDict:
  """config.model.dcpose: the published values."""
  d = ml_collections.ConfigDict()
  d.frame_distance = 1                  # previous/next frame at t -/+ d (config DISTANCE 2: d = 1)
  d.prf_channels = 34                   # PRF_INNER_CH: diff_temporal_fuse, 4K -> 34
  d.prf_blocks = 2                      # PRF_BASICBLOCK_NUM (residual-steps blocks)
  d.ptm_channels = 17                   # PTM_INNER_CH: support_temporal_fuse, 3K -> 17
  d.ptm_blocks = 1                      # PTM_BASICBLOCK_NUM
  d.combine_channels = 64               # PRF_PTM_COMBINE_INNER_CH: offset_mask_combine_conv
  d.combine_blocks = 2                  # PRF_PTM_COMBINE_BASICBLOCK_NUM
  d.dcn_dilations = (3, 6, 9, 12, 15)   # DEFORMABLE_CONV.DILATION: one DCN each
  d.dcn_kernel_size = 3
  d.mask_activation = 'none'            # 'none' (code: raw mask) | 'sigmoid' (DCNv2)
  d.aggregation = 'mean'                # 'mean' (code: weighted_sum, 1/5 each) | 'sum' (figure)
  return d


CHOICES = {
    'model.dcpose.mask_activation': ('none', 'sigmoid'),
    'model.dcpose.aggregation': ('mean', 'sum'),
}


def _check(model_config: ml_collections.ConfigDict) -> None:
  own = model_config.dcpose
  def check(ok: bool, field: str, expected: str):
    if not ok:
      raise ConfigError(f'config.model.dcpose.{field}={own[field]!r}: expected {expected}')
  check(own.frame_distance >= 1, 'frame_distance', 'a distance of at least 1 frame')
  check(own.dcn_kernel_size % 2 == 1, 'dcn_kernel_size', 'an odd size')
  check(len(own.dcn_dilations) >= 1 and all(d >= 1 for d in own.dcn_dilations),
        'dcn_dilations', 'one or more dilations >= 1')
  for field in ('prf_blocks', 'ptm_blocks', 'combine_blocks'):
    # With 0 blocks the published code switches to other layers (a grouped conv), not built.
    check(own[field] >= 1, field, 'at least 1 residual-steps block')
  for field in ('prf_channels', 'ptm_channels', 'combine_channels'):
    check(own[field] >= 4, field, 'at least 4 channels (the residual-steps block splits its '
          'width four ways)')


def _check_run(config: ml_collections.ConfigDict) -> None:
  if not config.model.freeze_backbone:
    raise ConfigError('config.model.freeze_backbone=False with model.family=\'dcpose\': the '
                      'published code then also trains on the rough heatmaps of the current '
                      'frame, which this implementation does not; every published DCPose '
                      'config freezes the backbone (keep True)')


def _clip(config: ml_collections.ConfigDict) -> ClipSpec:
  d = config.model.dcpose.frame_distance
  return ClipSpec((-d, d), 'key_frame', frame_offsets=True)


def _build(model_config: ml_collections.ConfigDict):
  from famipose_jax.models.dcpose import network  # pylint: disable=g-import-not-at-top
  return network.DCPose(ml_collections.FrozenConfigDict(model_config))


FAMILY = registry.register(registry.ModelFamily(
    name='dcpose', label='DCPose', build=_build,
    inputs=(registry.KEY_IMAGE, registry.SUPPORTING_IMAGES, registry.SUPPORTING_FRAME_OFFSETS),
    clip=_clip, section=section, choices=CHOICES, check=_check, check_run=_check_run,
    # rough_pose_estimation_net is the HRNet; conv_bn_relu2_<i>_<j> are the residual-steps
    # units' own names, not list indices.
    torch_naming=registry.TorchNaming(backbone='rough_pose_estimation_net',
                                      names_with_number=r'^conv_bn_relu2_\d+_\d+$')))
