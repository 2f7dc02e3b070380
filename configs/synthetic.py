"""The CPU demo: FAMI-Pose on the synthetic PoseTrack-like dataset, small enough for 2 cores.

  python train.py --config=configs/synthetic.py --workdir=runs/demo

Two stages, as FAMI-Pose is published on top of an HRNet already trained on the target data
(there is no such HRNet for the synthetic data, so the demo trains one first):
  1. the single-frame small HRNet (the baseline) in runs/demo/pretrain;
  2. FAMI-Pose on top of it with the backbone frozen (the published recipe).
The final table prints the frozen backbone alone and FAMI-Pose. The dataset is generated at
data.root on first use. Besides sizes and the schedule, three choices differ from
configs/posetrack17.py, each measured on this data (BENCHMARKS.md, "Demo"): no MI term
(model.famipose.mi='none'), no flip, rotation or half-body augmentation.

`--config=configs/synthetic.py:smoke` is the smallest config that runs every code path (the
tests use it; it learns nothing useful).
"""

import ml_collections

from configs import posetrack17
from famipose_jax.config import backbone_presets


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  """The demo config; variant 'smoke' shrinks every size for tests."""
  if variant not in ('', 'smoke'):
    raise ValueError(f"configs/synthetic.py: unknown variant {variant!r} (use '' or 'smoke')")
  config = posetrack17.get_config()
  config.seed = 0
  config.num_epochs = 6                  # stage 2 (FAMI-Pose)
  config.batch_size = 16
  config.eval_batch_size = 32

  # Shared sizes (FieldReferences: model, data and decoding follow).
  config.model.image_size = (96, 128)    # (W, H); HRNet needs multiples of 32
  config.model.heatmap_size = (24, 32)

  config.model.backbone = backbone_presets.hrnet_small()
  f = config.model.famipose
  f.gtm_channels = 8
  f.gtm_num_downsamples = 3              # 24x16 -> 3x2
  f.gtm_hidden_features = (32, 32)
  f.dcn_offset_groups = 2
  f.support_blocks = 1
  f.fusion_blocks = 1

  d = config.data
  d.dataset = 'synthetic'
  d.root = 'data/synthetic'              # generated here if missing
  d.train_json = 'json/posetrack_train.json'
  d.val_json = 'json/posetrack_val.json'
  d.val_boxes_json = 'json/val_boxes.json'
  d.video_annotation_dir = 'annotations'
  d.supporting_offsets = (-1, 1)
  d.flip_prob = 0.0                      # limbs are colour-coded left/right: a mirror lies
  # The synthetic camera is upright and people are seen whole; with this short schedule the
  # published rotation and half-body augmentation cost ~4 AP (measured, BENCHMARKS.md "Demo").
  d.rotation_prob = 0.0
  d.half_body_prob = 0.0
  d.sigma = 2.0                          # 3 at 96x72 heatmaps; the demo's are 32x24
  d.simcc_sigma = 2.0
  d.num_workers = 1
  d.prefetch_batches = 4

  config.optim.lr_decay_epochs = (5,)
  config.eval.prediction_layout = 'posetrack18'
  # The published MI objective lowered FAMI-Pose below its frozen backbone on this data, the
  # critic estimator helped less than no MI term: measured in BENCHMARKS.md ("Demo").
  config.model.famipose.mi = 'none'

  t = config.train
  t.pretrain_epochs = 10                 # stage 1 (single-frame HRNet baseline)
  t.pretrain_lr_decay_epochs = (8,)
  t.log_every_steps = 20
  t.checkpoint_every_steps = 100
  t.keep_checkpoints = 2
  if variant == 'smoke':
    _shrink_for_smoke_tests(config)
  return config


def _shrink_for_smoke_tests(config: ml_collections.ConfigDict):
  config.num_epochs = 1
  config.batch_size = 4
  config.eval_batch_size = 8
  config.model.image_size = (32, 32)
  config.model.heatmap_size = (8, 8)
  config.model.backbone = backbone_presets.hrnet(width=4, blocks=1, modules=(1, 1, 1),
                                                 stem_channels=8, layer1_planes=4,
                                                 layer1_blocks=1)
  config.model.famipose.gtm_channels = 4
  config.model.famipose.gtm_hidden_features = (8, 8)   # 8x8 maps, 3 stride-2 convs -> 1x1
  config.data.sigma = 1.0
  config.model.famipose.mi = 'published'   # every code path, the published objective included
  config.eval.dark = False
  config.data.num_workers = 0
  config.train.pretrain_epochs = 0
  config.train.log_every_steps = 2
  config.train.checkpoint_every_steps = 4
  config.train.num_vis_samples = 2
  config.train.progress_bar = False
