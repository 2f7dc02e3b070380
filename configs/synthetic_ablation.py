"""The ablation benchmark: FAMI-Pose's parts on synthetic videos whose key frame is often bad.

  python -m famipose_jax.ablation --out runs/ablation        # the whole study (docs/ablations.md)
  python train.py --config=configs/synthetic_ablation.py --workdir=runs/abl_fami   # one run

The data (data.synthetic_variant='ablation') degrade a quarter of the frames on their own (an
extreme motion blur, an object crossing the lens in front of a person, a corrupted band of
rows), none within 2 frames of another (the ordinary blur and occluders of the synthetic
data can still touch the neighbours), as in the paper's motivating examples.
Sizes are the demo's (configs/synthetic.py) shrunk so that 3 seeds x 13 variants run on two
CPU cores in about 1 h 40 min (measured: docs/ablations.md); the recipe is the demo's: stage 1
trains the single-frame HRNet, stage 2 trains each variant on that frozen backbone. Evaluation
uses the ground-truth boxes, so that the detector's misses on degraded frames do not hide what
the pose network does there.
"""

import ml_collections

from configs import synthetic


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  """The benchmark config; variant 'quick' shrinks it for the ablation runner's test."""
  if variant not in ('', 'quick'):
    raise ValueError(f"configs/synthetic_ablation.py: unknown variant {variant!r} "
                     "(use '' or 'quick')")
  config = synthetic.get_config('smoke' if variant == 'quick' else '')
  d = config.data
  d.synthetic_variant = 'ablation'
  d.root = 'data/synthetic_ablation'
  d.eval_boxes = 'ground_truth'
  config.train.progress_bar = False
  config.train.num_vis_samples = 0
  if variant == 'quick':
    config.model.famipose.mi = 'none'
    d.synthetic_variant = 'ablation_tiny'
    d.root = 'data/synthetic_ablation_tiny'
    config.train.pretrain_epochs = 1
    return config
  config.model.image_size = (64, 96)     # (W, H)
  config.model.heatmap_size = (16, 24)
  config.model.famipose.gtm_num_downsamples = 3   # 16x24 -> 2x3
  config.num_epochs = 4                  # stage 2, each variant
  config.optim.lr_decay_epochs = (3,)
  config.train.pretrain_epochs = 8
  config.train.pretrain_lr_decay_epochs = (6,)
  return config
