"""The two stages of a run with `train.pretrain_epochs > 0` (the synthetic demo).

FAMI-Pose is published on top of an HRNet already trained on the target data; where none exists
(the synthetic data) a run trains one first:
  stage 1  workdir/pretrain: the single-frame HRNet (model family 'single_frame', its
           backbone trained),
           train.pretrain_epochs epochs, lr decayed at train.pretrain_lr_decay_epochs;
  stage 2  workdir: the configured model initialised from stage 1 (init_from).
"""

from __future__ import annotations

import ml_collections

from famipose_jax.config import defaults as config_defaults

PRETRAIN_DIR = 'pretrain'


def pretrain_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Stage 1 of a two-stage run: the single-frame backbone, trained end to end."""
  stage = config_defaults.with_family(config, 'single_frame')
  stage.model.freeze_backbone = False
  stage.model.head = 'heatmap'
  stage.data.supporting_offsets = ()     # one frame per clip, as the single-frame family reads
  stage.num_epochs = config.train.pretrain_epochs
  stage.optim.lr_decay_epochs = tuple(config.train.pretrain_lr_decay_epochs)
  stage.train.pretrain_epochs = 0
  stage.init_from = ''
  return stage
