"""The CPU demo with TDMI instead of FAMI-Pose: the same data, stage 1 and stage-2 schedule.

  python train.py --config=configs/synthetic_tdmi.py --workdir=runs/demo_tdmi

Two stages like configs/synthetic.py, whose stage 1 (the single-frame small HRNet) is the same
config, so it trains the same backbone bit for bit; stage 2 trains TDMI on it, backbone frozen,
for the demo's 6 epochs, with model.tdmi at its defaults (docs/tdmi.md) but reading the demo's
frames, t-1 and t+1, like FAMI-Pose there (TDMI's default window is 5 frames). To reuse the
demo's stage 1 instead of training it again:

  python train.py --config=configs/synthetic_tdmi.py --workdir=runs/demo_tdmi \
      --config.train.pretrain_epochs=0 --config.init_from=runs/demo/pretrain
"""

import ml_collections

from configs import synthetic
from famipose_jax.config import defaults as config_defaults


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  """The TDMI demo config; variant 'smoke' shrinks every size for tests."""
  config = config_defaults.with_family(synthetic.get_config(variant), 'tdmi')
  config.model.tdmi.supporting_offsets = tuple(config.data.supporting_offsets)
  return config
