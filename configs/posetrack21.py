"""FAMI-Pose on PoseTrack21 (the 2018 videos re-annotated), same recipe as PoseTrack17.

FAMI-Pose reports no PoseTrack21 number. The layout is PoseTrack18's (COCO-style per-video files,
%06d.jpg frames from 0); predictions are written in it.

  python train.py --config=configs/posetrack21.py --workdir=runs/pt21 \
      --config.data.root=/data/PoseTrack21 --config.init_from=/ckpt/hrnet_w48_pt21
"""

import ml_collections

from configs import local
from configs import posetrack17


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/posetrack21.py')
  config = posetrack17.get_config()
  config.data.dataset = 'posetrack21'
  config.eval.prediction_layout = 'posetrack18'
  return local.run_locally(config) if variant == 'local' else config
