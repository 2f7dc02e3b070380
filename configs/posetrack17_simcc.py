"""FAMI-Pose with a SimCC coordinate-classification head on PoseTrack17.

The final per-joint maps feed two 1-D classifiers (round(W k) x bins, round(H k) y bins, k =
simcc_split_ratio = 2) trained with the SimCC KL loss on 1-D Gaussian labels (sigma 6); the MI
objective and everything else are the published FAMI-Pose setup. An unpublished third-party
reproduction of this variant reported 81.6 mAP on PT17 val (the paper's FAMI-Pose: 84.8).

  python train.py --config=configs/posetrack17_simcc.py --workdir=runs/pt17_simcc \
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17
"""

import ml_collections

from configs import local
from configs import posetrack17


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/posetrack17_simcc.py')
  config = posetrack17.get_config()
  config.model.head = 'simcc'
  return local.run_locally(config) if variant == 'local' else config
