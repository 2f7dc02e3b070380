"""DCPose (HRNet-W48, 384x288) on PoseTrack17, as the published code trains it (82.8 mAP val).

github.com/Pose-Group/DCPose, configs/posetimation/DcPose/posetrack17/model_RSN.yaml over
Base_PoseTrack17.yaml: Adam 1e-3 without weight decay, 20 epochs, 2 GPUs x 32 clips, seed 8888,
the frozen HRNet-W48 initialised from a COCO-trained one, the previous and next frame, HRNet's
standard crop (not FAMI-Pose's), no flip test. Its MultiStepLR milestones [4, 8, 12, 16] are
stepped after each epoch with the epoch number, so each decay takes effect one epoch later:
epochs 0-4 train at 1e-3, 5-8 at 1e-4, 9-12 at 1e-5, 13-16 at 1e-6, 17-19 at 1e-7.

  python -m famipose_jax.convert pose_hrnet_w48_384x288.pth /ckpt/hrnet_w48_coco --model hrnet
  python train.py --config=configs/dcpose_posetrack17.py --workdir=runs/dcpose_pt17 \
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_coco

A published DCPose checkpoint converts to a model folder that predicts and evaluates:
  python -m famipose_jax.convert PoseTrack17_DCPose.pth /ckpt/dcpose_pt17 --model dcpose \
      --config configs/dcpose_posetrack17.py

`:local` shrinks every size for a quick run on a laptop (configs/local.py).
"""

import ml_collections

from configs import local
from famipose_jax.config import defaults as config_defaults

# The published milestones, and the epochs their decays take effect (one epoch later).
PUBLISHED_MILESTONES = (4, 8, 12, 16)


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/dcpose_posetrack17.py')
  config = config_defaults.published_config('dcpose')
  config.seed = 8888
  config.num_epochs = 20
  config.batch_size = 64                 # BATCH_SIZE_PER_GPU 32 x GPUS (0, 1)
  config.optim.learning_rate = 1e-3
  config.optim.lr_decay_epochs = tuple(m + 1 for m in PUBLISHED_MILESTONES)
  config.optim.lr_decay_factor = 0.1
  config.data.crop_convention = 'size'   # get_affine_transform in training and testing
  return local.run_locally(config) if variant == 'local' else config
