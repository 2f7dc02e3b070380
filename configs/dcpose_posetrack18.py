"""DCPose on PoseTrack18 (published: 80.9 mAP val), its published PoseTrack18 recipe.

configs/posetimation/DcPose/posetrack18/model_RSN.yaml: as PoseTrack17 but lr 1e-4 and a decay
factor of 0.99 (the learning rate stays nearly constant). Its backbone initialisation,
pretrained_.pth, was never released (Pose-Group/DCPose issue 38): start from a converted HRNet
of your own.

  python train.py --config=configs/dcpose_posetrack18.py --workdir=runs/dcpose_pt18 \
      --config.data.root=/data/PoseTrack18 --config.init_from=/ckpt/hrnet_w48
"""

import ml_collections

from configs import dcpose_posetrack17
from configs import local


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/dcpose_posetrack18.py')
  config = dcpose_posetrack17.get_config()
  config.data.dataset = 'posetrack18'
  config.eval.prediction_layout = 'posetrack18'
  config.optim.learning_rate = 1e-4
  config.optim.lr_decay_factor = 0.99
  return local.run_locally(config) if variant == 'local' else config
