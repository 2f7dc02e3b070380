"""Config records written before model families: read as the configs they were.

Workdirs, checkpoints and model folders record their config flat ('model.head': ...). Until
2026-12 a record had `model.temporal` (True: FAMI-Pose, False: the single-frame HRNet), FAMI-Pose's
fields at the top of `model` and its MI objective in `loss`; `upgrade_record` gives such a
record today's names (model.family, model.famipose.*), so old workdirs resume, old checkpoints
evaluate and old model folders predict.
"""

from __future__ import annotations

from typing import Any, Mapping

# FAMI-Pose's fields that moved into model.famipose, by their old flat names.
_FAMIPOSE_MODEL_FIELDS = (
    'global_transform', 'warp_align_corners', 'gtm_channels', 'gtm_num_downsamples',
    'gtm_hidden_features', 'local_calibration', 'dcn_kernel_size', 'dcn_dilation',
    'dcn_offset_groups', 'dcn_mask_activation', 'support_blocks', 'combine_blocks',
    'fusion_blocks', 'head_kernel_size')
_FAMIPOSE_LOSS_FIELDS = (
    'mi', 'mi_alpha', 'mi_beta', 'mi_temperature', 'mi_faithful', 'mi_critic_hidden',
    'mi_critic_weight', 'mi_critic_term_weights', 'mi_critic_fit_weight')
MOVED = {**{f'model.{n}': f'model.famipose.{n}' for n in _FAMIPOSE_MODEL_FIELDS},
         **{f'loss.{n}': f'model.famipose.{n}' for n in _FAMIPOSE_LOSS_FIELDS}}


def upgrade_record(recorded: Mapping[str, Any]) -> dict[str, Any]:
  """A flat config record with today's field names (a current record is returned as it is).

  A single-frame record drops FAMI-Pose's fields: that network never read them.
  """
  if 'model.family' in recorded or not any(
      name == 'model.temporal' or name in MOVED for name in recorded):
    return dict(recorded)
  family = 'famipose' if recorded.get('model.temporal', True) else 'single_frame'
  upgraded = {'model.family': family}
  for name, value in recorded.items():
    if name == 'model.temporal':
      continue
    if name in MOVED:
      if family == 'famipose':
        upgraded[MOVED[name]] = value
    else:
      upgraded[name] = value
  return upgraded
