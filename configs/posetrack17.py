"""FAMI-Pose (HRNet-W48, 384x288) on PoseTrack17, as the published code trains it.

The library's published configuration unchanged (famipose_jax/config/defaults.py holds every
number, with where it comes from); the other experiment configs start from this one.

  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 \
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17

`:local` shrinks every size for a quick run on a laptop (configs/local.py).
"""

import ml_collections

from configs import local
from famipose_jax.config import defaults as config_defaults


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/posetrack17.py')
  config = config_defaults.published_config()
  return local.run_locally(config) if variant == 'local' else config
