"""The single-frame HRNet-W48 baseline on PoseTrack17, trained by the same code as FAMI-Pose.

Model family 'single_frame' runs only the backbone on the key frame; the backbone is trained
(not frozen) and there is no MI objective. Everything else (input 384x288, data, augmentation, the
Adam schedule, decoding, evaluation) is the published FAMI-Pose setup of configs/posetrack17.py,
which makes it the comparison the FAMI-Pose paper draws (HRNet-W48: 77.3 mAP on PT17 val).
Start from a converted COCO or ImageNet HRNet-W48 (`--config.init_from`):

  python -m famipose_jax.convert pose_hrnet_w48_384x288.pth /ckpt/hrnet_w48_coco
  python train.py --config=configs/hrnet_w48_posetrack17.py --workdir=runs/hrnet_pt17 \
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_coco

`:local` shrinks every size for a quick run on a laptop.
"""

import ml_collections

from configs import local
from configs import posetrack17
from famipose_jax.config import defaults as config_defaults


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/hrnet_w48_posetrack17.py')
  config = config_defaults.with_family(posetrack17.get_config(), 'single_frame')
  config.model.freeze_backbone = False
  return local.run_locally(config) if variant == 'local' else config
