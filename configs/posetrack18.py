"""FAMI-Pose on PoseTrack18 (published: 82.2 mAP on val), same recipe as PoseTrack17.

PoseTrack18 frames are named %06d.jpg from 0 (data.frame_numbering='auto' detects it) and its
annotations are COCO-style per video; predictions are written in that layout.

  python train.py --config=configs/posetrack18.py --workdir=runs/pt18 \
      --config.data.root=/data/PoseTrack18 --config.init_from=/ckpt/hrnet_w48_pt18
"""

import ml_collections

from configs import local
from configs import posetrack17


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/posetrack18.py')
  config = posetrack17.get_config()
  config.data.dataset = 'posetrack18'
  config.eval.prediction_layout = 'posetrack18'
  return local.run_locally(config) if variant == 'local' else config
