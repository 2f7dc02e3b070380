"""FAMI-Pose (HRNet-W48, 384x288) on PoseTrack17, as the published code trains it.

The library's published configuration unchanged (famipose_jax/config_defaults.py holds every
number, with where it comes from); the other experiment configs start from this one.

  python train.py --config=configs/posetrack17.py --workdir=runs/pt17 \
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17
"""

import ml_collections

from famipose_jax import config_defaults


def get_config() -> ml_collections.ConfigDict:
  return config_defaults.published_config()
