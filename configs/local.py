"""The "run locally" shrink shared by the experiment configs (`--config=configs/X.py:local`).

Same code path, every size cut down so that a laptop CPU runs a few steps on the real dataset in
minutes: a tiny HRNet at 128x96 input, batch 4, two loader workers. Numbers are not meaningful.
"""

import ml_collections

from famipose_jax.config import backbone_presets

VARIANTS = ('', 'local')


def check_variant(variant: str, config_file: str):
  if variant not in VARIANTS:
    raise ValueError(f'{config_file}: unknown variant {variant!r}; use one of {VARIANTS}')


def run_locally(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  config.batch_size = 4
  config.eval_batch_size = 8
  config.num_epochs = 1
  config.model.image_size = (96, 128)          # (W, H), shared with data and decoding
  config.model.heatmap_size = (24, 32)
  config.model.backbone = backbone_presets.hrnet_tiny()
  if 'famipose' in config.model:
    config.model.famipose.gtm_num_downsamples = 3   # 32x24 -> 4x3
    config.model.famipose.dcn_offset_groups = 2
  config.data.sigma = 2.0
  config.data.num_workers = 2
  config.train.log_every_steps = 10
  config.train.checkpoint_every_steps = 200
  return config
