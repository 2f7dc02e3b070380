"""FAMI-Pose as a model family: its config section, clip, objective, checkpoint names, ablations.

config.model.famipose holds every field of the published model (github.com/Pose-Group/FAMI-Pose,
model Alignment_V15) beyond the backbone, the head and the sizes every family shares, and its
"mutual information" objective (docs/mutual_information.md). Switches that default to the
code's behaviour offer the paper's variant.
"""

import ml_collections

from data_pipeline.clip_frames import ClipSpec
from data_pipeline.errors import ConfigError
from famipose_jax.models import registry


def section() -> ml_collections.ConfigDict:
  """config.model.famipose: the published values."""
  f = ml_collections.ConfigDict()
  f.global_transform = 'translation'     # 'translation' (code) | 'affine' (paper) | 'none'
  f.warp_align_corners = True            # kornia >= 0.5; False reproduces kornia 0.3-0.4
  f.gtm_channels = 16
  f.gtm_num_downsamples = 5              # 96x72 -> 3x3
  f.gtm_hidden_features = (64, 64)       # Linear 144->64->64->(2 or 6), no activations
  f.local_calibration = True
  f.dcn_kernel_size = 3
  f.dcn_dilation = 3
  f.dcn_offset_groups = 12
  f.dcn_mask_activation = 'none'         # 'none' (code: raw mask) | 'sigmoid' (DCNv2 paper)
  f.support_blocks = 2                   # sup_agg_block: BasicBlocks on the N warped features
  f.combine_blocks = 1                   # combined_feat_layers
  f.fusion_blocks = 3                    # init_feature_agg_block
  f.head_kernel_size = 3                 # agg_final_layer
  # The "mutual information" objective (losses/mi_published.py, losses/mi_critic.py).
  f.mi = 'published'                     # 'published' | 'critic' | 'none'
  f.mi_alpha = 0.5
  f.mi_beta = 0.1
  f.mi_temperature = 0.05
  f.mi_faithful = True                   # True: the published arithmetic; False: true KL
  f.mi_critic_hidden = 64                # 'critic': per-pixel score-head width (not published)
  f.mi_critic_weight = 1e-3              # 'critic': network MI objective scale (not published)
  f.mi_critic_term_weights = (1.0, 1.0, 1.0)  # max I(y;Z~|Zt), min I(y;Zs|Z~), min I(y;Zt|Z~)
  f.mi_critic_fit_weight = 1.0           # 'critic': critics' own objective (critic params only)
  return f


CHOICES = {
    'model.famipose.global_transform': ('translation', 'affine', 'none'),
    'model.famipose.dcn_mask_activation': ('none', 'sigmoid'),
    'model.famipose.mi': ('published', 'critic', 'none'),
}


def _check(model_config: ml_collections.ConfigDict) -> None:
  own = model_config.famipose
  def check(ok: bool, field: str, expected: str):
    if not ok:
      raise ConfigError(f'config.model.famipose.{field}={own[field]!r}: expected {expected}')
  check(own.dcn_kernel_size % 2 == 1, 'dcn_kernel_size', 'an odd size')
  check(own.head_kernel_size % 2 == 1, 'head_kernel_size', 'an odd size')
  channels = model_config.backbone.stage4.num_channels[0]
  check(channels % own.dcn_offset_groups == 0, 'dcn_offset_groups',
        f'a divisor of the backbone width {channels}')
  check(own.mi_temperature > 0, 'mi_temperature', 'a temperature > 0')


def _clip(config: ml_collections.ConfigDict) -> ClipSpec:
  """The supporting frames of config.data (published: t-2, t-1, t+1, t+2)."""
  return ClipSpec(tuple(config.data.supporting_offsets), config.data.boundary_rule)


def _objective(config: ml_collections.ConfigDict) -> registry.Objective | None:
  """model.famipose.mi: the published terms, a learned critic, or none."""
  own = config.model.famipose
  if own.mi == 'none':
    return None
  from famipose_jax import losses  # pylint: disable=g-import-not-at-top (JAX only when used)
  if own.mi == 'published':
    def published(outputs, batch, critic_params):
      del batch, critic_params
      return losses.published_mi(outputs, temperature=own.mi_temperature, alpha=own.mi_alpha,
                                 beta=own.mi_beta, faithful=own.mi_faithful)
    return registry.Objective(compute=published, label='mi')
  return registry.Objective.of_critic(losses.build_mi_critic(own, config.model.num_joints),
                                      reads_heatmap_targets=True, label='mi')


def _build(model_config: ml_collections.ConfigDict):
  from famipose_jax.models.famipose import network  # pylint: disable=g-import-not-at-top
  return network.FamiPose(ml_collections.FrozenConfigDict(model_config))


def _ablation_study():
  from famipose_jax.models.famipose import ablations  # pylint: disable=g-import-not-at-top
  return ablations.STUDY


FAMILY = registry.register(registry.ModelFamily(
    name='famipose', label='FAMI-Pose', build=_build,
    inputs=(registry.KEY_IMAGE, registry.SUPPORTING_IMAGES), clip=_clip, section=section,
    choices=CHOICES, check=_check, objective=_objective,
    # The published attributes that end in '_<n>' themselves (dcn_1 .. dcn_4 and their convs).
    torch_naming=registry.TorchNaming(backbone='hrnet',
                                      names_with_number=r'^(dcn|dcn_offset|dcn_mask)_\d+$'),
    ablation_study=_ablation_study))
