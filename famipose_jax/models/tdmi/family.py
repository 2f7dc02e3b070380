"""TDMI as a model family: its config section, clip, objective and ablation study.

TDMI has no released code. config.model.tdmi holds every choice of the reconstruction; each
field's comment tags its source: [F2] the paper's pipeline figure, [LAB] the authors' unofficial
lab model (DTDMNRV15_2), [ours] a choice neither makes. docs/tdmi.md has the same table with the
alternatives.
"""

import ml_collections

from data_pipeline import config as data_schema
from data_pipeline.clip_frames import ClipSpec
from data_pipeline.errors import ConfigError
from famipose_jax.models import registry


def section() -> ml_collections.ConfigDict:
  """config.model.tdmi: the lab model's values where the figure is silent."""
  t = ml_collections.ConfigDict()
  t.supporting_offsets = (-2, -1, 1, 2)     # [LAB] 5 frames (the figure draws t-1, t, t+1)
  t.boundary_rule = 'published'             # [LAB] FAMI-Pose's padding at a video's ends
  t.difference_pairing = 'adjacent'         # [LAB] later - earlier, adjacent pairs | 'key'
  t.stages = (1, 2, 3, 4)                   # [F2] four stages; [LAB] branch 0 of each
  t.residual_blocks = (2, 2, 2, 2)          # [LAB] per stage (the figure: 3, 3, ?, 2)
  t.dcn = True                              # [F2] a modulated DCN per stage
  t.dcn_kernel_size = 3                     # [LAB]
  t.dcn_dilation = 1                        # [LAB] the motion DCN's sampling grid
  t.offset_dilation = 3                     # [LAB] its offset and mask convs (their kernel:
                                            # dcn_kernel_size, 3 as the lab's [ours: tied])
  # [LAB] 12 deformable groups at width 48 (216 offset / 108 mask channels at k = 3); given
  # per group so that the small widths of the CPU configs keep the same group size.
  t.dcn_group_channels = 4
  t.dcn_mask_activation = 'none'            # [LAB] raw mask | 'sigmoid' (DCNv2)
  t.offset_source = 'key_and_difference'    # [LAB] cat(key last-stage, D_j) | 'difference' [F2]
  t.offset_guide_blocks = 1                 # [LAB] BasicBlocks before the offset/mask convs
  t.cascade = True                          # [F2] incremental cascade | False: one sum
  t.cascade_conv = 'basic_block'            # [LAB] | 'conv' (a plain 3x3 conv, the figure)
  t.cascade_first_conv = False              # [LAB] (the figure draws a conv after stage 1)
  t.rdm = True                              # [F2] the disentanglement module
  t.rdm_gate_input = 'channel'              # [LAB] pooled channel gates | 'pixel'
  t.rdm_hidden = 128                        # [LAB] gate MLP C -> 128 -> C
  t.aggregation_blocks = 3                  # [LAB] BasicBlocks on concat(M_u, key feature)
  t.head_kernel_size = 3                    # [LAB] the detection head conv
  t.mi = 'club'                             # [ours] 'club' | 'lab_kl' [LAB] | 'none'
  # [ours] the paper's weight is unknown; the CLUB estimate is O(1) nats, the heatmap MSE
  # O(1e-3): 1e-3 puts them on one order. It also weighs 'lab_kl'.
  t.mi_weight = 1e-3
  t.club_hidden = 64                        # [ours] q(n | u) MLP width
  t.club_fit_weight = 1.0                   # [ours] q's likelihood (reaches q only)
  t.lab_kl_temperature = 0.05               # [LAB] the spatial softmax temperature
  t.rdm_reconstruction_weight = 1e-3        # [ours] the guard against a collapsed noisy branch
  return t


CHOICES = {
    'model.tdmi.boundary_rule': data_schema.BOUNDARY_RULES,
    'model.tdmi.difference_pairing': ('adjacent', 'key'),
    'model.tdmi.dcn_mask_activation': ('none', 'sigmoid'),
    'model.tdmi.offset_source': ('key_and_difference', 'difference'),
    'model.tdmi.cascade_conv': ('basic_block', 'conv'),
    'model.tdmi.rdm_gate_input': ('channel', 'pixel'),
    'model.tdmi.mi': ('club', 'lab_kl', 'none'),
}


def _check(model_config: ml_collections.ConfigDict) -> None:
  own = model_config.tdmi
  def check(ok: bool, field: str, expected: str):
    if not ok:
      raise ConfigError(f'config.model.tdmi.{field}={own[field]!r}: expected {expected}')
  is_int = lambda v: isinstance(v, int) and not isinstance(v, bool)
  offsets = tuple(own.supporting_offsets)
  check(len(offsets) >= 1 and all(is_int(o) for o in offsets) and 0 not in offsets
        and len(set(offsets)) == len(offsets), 'supporting_offsets',
        'one or more distinct non-zero integer frame offsets')
  stages = tuple(own.stages)
  check(len(stages) >= 1 and all(s in (1, 2, 3, 4) and is_int(s) for s in stages)
        and list(stages) == sorted(set(stages)), 'stages',
        'increasing backbone stages from 1, 2, 3, 4')
  check(len(own.residual_blocks) == 4
        and all(is_int(n) and n >= 1 for n in own.residual_blocks),
        'residual_blocks', 'four integer block counts >= 1 (stages 1-4)')
  check(own.dcn_kernel_size % 2 == 1, 'dcn_kernel_size', 'an odd size')
  check(own.head_kernel_size % 2 == 1, 'head_kernel_size', 'an odd size')
  channels = model_config.backbone.stage4.num_channels[0]
  check(own.dcn_group_channels >= 1 and channels % own.dcn_group_channels == 0,
        'dcn_group_channels', f'a divisor of the backbone width {channels}')
  for field in ('dcn_dilation', 'offset_dilation', 'offset_guide_blocks', 'aggregation_blocks',
                'rdm_hidden', 'club_hidden'):
    check(is_int(own[field]) and own[field] >= 1, field, 'an integer >= 1')
  for field in ('mi_weight', 'club_fit_weight', 'rdm_reconstruction_weight'):
    check(own[field] >= 0, field, 'a weight >= 0')
  check(own.lab_kl_temperature > 0, 'lab_kl_temperature', 'a temperature > 0')
  check(own.rdm or own.mi == 'none', 'mi',
        "'none' with model.tdmi.rdm=False (the MI is between the RDM's two branches)")


def _clip(config: ml_collections.ConfigDict) -> ClipSpec:
  own = config.model.tdmi
  return ClipSpec(tuple(own.supporting_offsets), own.boundary_rule)


def _build(model_config: ml_collections.ConfigDict):
  from famipose_jax.models.tdmi import network  # pylint: disable=g-import-not-at-top
  return network.TDMI(ml_collections.FrozenConfigDict(model_config))


def _objective(config: ml_collections.ConfigDict):
  from famipose_jax.models.tdmi import objective  # pylint: disable=g-import-not-at-top
  return objective.objective(config)


def _ablation_study():
  from famipose_jax.models.tdmi import ablations  # pylint: disable=g-import-not-at-top
  return ablations.STUDY


FAMILY = registry.register(registry.ModelFamily(
    name='tdmi', label='TDMI', build=_build,
    inputs=(registry.KEY_IMAGE, registry.SUPPORTING_IMAGES), clip=_clip, section=section,
    choices=CHOICES, check=_check, objective=_objective, ablation_study=_ablation_study))
