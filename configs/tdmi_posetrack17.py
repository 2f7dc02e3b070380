"""TDMI (HRNet-W48, 384x288) on PoseTrack17, with the lab's recipe: no published recipe exists.

TDMI released no code or configs. The model section is config.model.tdmi at its defaults (the
paper's pipeline figure, the lab model where the figure is silent: docs/tdmi.md). The recipe is
FAMI-Pose's published one, the lab's last released recipe before TDMI and the library's
published configuration (famipose_jax/config/defaults.py): Adam 1e-3 without weight decay,
x0.1 at epochs 8, 12 and 16, 21 epochs, batch 48, the HRNet-W48 frozen and initialised from one
trained on PoseTrack17, FAMI-Pose's crops, no flip test. Every one of these is the lab's
choice, not a number from the TDMI paper.

  python train.py --config=configs/tdmi_posetrack17.py --workdir=runs/tdmi_pt17 \
      --config.data.root=/data/PoseTrack17 --config.init_from=/ckpt/hrnet_w48_pt17

`:local` shrinks every size for a quick run on a laptop (configs/local.py).
"""

import ml_collections

from configs import local
from famipose_jax.config import defaults as config_defaults


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  local.check_variant(variant, 'configs/tdmi_posetrack17.py')
  config = config_defaults.published_config('tdmi')
  return local.run_locally(config) if variant == 'local' else config
