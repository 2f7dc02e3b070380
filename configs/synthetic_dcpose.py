"""The CPU demo with DCPose instead of FAMI-Pose: the same data, stage 1 and stage-2 schedule.

  python train.py --config=configs/synthetic_dcpose.py --workdir=runs/demo_dcpose

Two stages like configs/synthetic.py, whose stage 1 (the single-frame small HRNet) is the same
config, so it trains the same backbone bit for bit; stage 2 trains DCPose on it, backbone frozen,
for the demo's 6 epochs. To reuse the demo's stage 1 instead of training it again:

  python train.py --config=configs/synthetic_dcpose.py --workdir=runs/demo_dcpose \
      --config.train.pretrain_epochs=0 --config.init_from=runs/demo/pretrain

Everything but the family is the demo's (crops included: the published DCPose crops with HRNet's
standard affine, configs/dcpose_posetrack17.py), so the two demos' tables compare the families.
"""

import ml_collections

from configs import synthetic
from famipose_jax.config import defaults as config_defaults


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  """The DCPose demo config; variant 'smoke' shrinks every size for tests."""
  return config_defaults.with_family(synthetic.get_config(variant), 'dcpose')
