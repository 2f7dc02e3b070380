"""The data section of a config (`config.data`): its published defaults and its checks.

The data pipeline owns this section: `data_defaults` builds it (famipose_jax's published config
composes it with the other sections), `validate_data_section` checks it before a dataset or a
loader reads it, and famipose_jax's schema applies the same tables to a whole config. Every
number is the published FAMI-Pose / DCPose pipeline's (github.com/Pose-Group).
"""

from __future__ import annotations

from typing import Any, Mapping

import ml_collections

from data_pipeline import joints
from data_pipeline.errors import ConfigError
from data_pipeline.synthetic import settings as synthetic_settings

# Which frames a clip holds near the ends of a video (data_pipeline/clip_frames.py).
BOUNDARY_RULES = ('published', 'clamp', 'key_frame')


def data_defaults(image_size, heatmap_size, num_joints, simcc_split_ratio
                  ) -> ml_collections.ConfigDict:
  """A new `config.data` with the published values.

  The four arguments are shared with the model section (FieldReferences in the published
  config, so that changing one changes both).
  """
  d = ml_collections.ConfigDict()
  d.dataset = 'posetrack17'              # | 'posetrack18' | 'posetrack21' | 'synthetic'
  d.root = ''                            # dataset folder (see README: data layout)
  d.synthetic_variant = ''               # 'synthetic': '' any dataset at root ('default' made if
                                         #   absent); a named variant: exactly its settings
  d.image_size = image_size
  d.heatmap_size = heatmap_size
  d.num_joints = num_joints
  d.supporting_offsets = (-2, -1, 1, 2)  # relative frame indices, in the model's order
  d.boundary_rule = 'published'          # 'published' | 'clamp' | 'key_frame' (clip_frames.py)
  d.sigma = 3.0                          # heatmap Gaussian std at heatmap resolution
  d.box_enlarge = 1.25
  d.pixel_std = 200.0
  d.scale_factor = 0.35                  # scale = clip(1 + 0.35 N(0,1), 0.65, 1.35)
  d.scale_clip = (0.65, 1.35)
  d.rotation_factor = 45.0               # rotation = clip(45 N(0,1), -90, 90) ...
  d.rotation_clip = 90.0
  d.rotation_prob = 0.6                  # ... with probability 0.6, else 0
  d.flip_prob = 0.5
  d.flip_pairs = joints.FLIP_PAIRS
  d.half_body_prob = 0.3
  d.half_body_min_joints = 8             # more than this many visible joints
  d.half_body_upper_threshold = 0.5      # upper body when N(0,1) < this (as coded)
  d.half_body_scale = 1.5
  d.upper_body_joints = joints.UPPER_BODY_JOINTS
  d.mean = (0.485, 0.456, 0.406)         # ImageNet, RGB
  d.std = (0.229, 0.224, 0.225)
  d.det_score_threshold = 0.2
  d.simcc_sigma = 6.0
  d.simcc_split_ratio = simcc_split_ratio
  d.loader = 'numpy'                     # 'numpy' (no TensorFlow) | 'tfdata'
  d.num_workers = 8
  d.prefetch_batches = 2
  d.on_bad_input = 'error'               # 'error' | 'skip' (counted and logged)
  d.train_json = 'annotations/posetrack_train.json'  # single-file COCO-style GT (paths under root)
  d.val_json = 'annotations/posetrack_val.json'
  d.val_boxes_json = 'annotations/val_boxes.json'    # detector boxes for evaluation
  d.video_annotation_dir = 'annotations'  # per-video GT files: <dir>/<split>/<video>.json
  d.annotation_source = 'coco_json'      # 'coco_json' (single file, as published) | 'per_video'
  d.eval_boxes = 'detections'            # 'detections' (published) | 'ground_truth'
  d.crop_convention = 'size_minus_one'   # clip crop as coded (dark_get_affine_transform) | 'size'
  d.frame_numbering = 'auto'             # 6 digits: from 0 (PT18), else from 1 | 'from0' | 'from1'
  d.decode_reduction = 'off'             # 'auto': reduced JPEG decode where the crop shrinks >= 2x
  d.region_decode = True                 # decode only the crop's part of each JPEG (same pixels)
  d.frame_source = 'folder'              # 'folder' (root/images) | 'tfds' (posetrack_frames)
  d.tfds_data_dir = ''                   # data_dir of the prepared TFDS dataset (default root/tfds)
  d.worker_start_method = 'spawn'        # numpy loader workers: 'spawn' | 'forkserver' (never fork)
  return d


# Every data field with a closed set of values, and the values.
CHOICES = {
    'data.dataset': ('posetrack17', 'posetrack18', 'posetrack21', 'synthetic'),
    'data.synthetic_variant': ('',) + tuple(synthetic_settings.VARIANTS),
    'data.boundary_rule': BOUNDARY_RULES,
    'data.annotation_source': ('coco_json', 'per_video'),
    'data.eval_boxes': ('detections', 'ground_truth'),
    'data.crop_convention': ('size_minus_one', 'size'),
    'data.frame_numbering': ('auto', 'from0', 'from1'),
    'data.decode_reduction': ('off', 'auto'),
    'data.frame_source': ('folder', 'tfds'),
    'data.loader': ('numpy', 'tfdata'),
    'data.worker_start_method': ('spawn', 'forkserver'),
    'data.on_bad_input': ('error', 'skip'),
}

# Why a value someone might expect to work is not allowed.
NOT_ALLOWED_BECAUSE = {
    'data.worker_start_method': 'fork is unsafe once JAX runs',
}

# Fields that must be at least this large, above 0, or probabilities.
MINIMUM = {'data.num_workers': 0, 'data.prefetch_batches': 1, 'data.det_score_threshold': 0.0}
POSITIVE = ('data.sigma', 'data.simcc_sigma', 'data.simcc_split_ratio', 'data.pixel_std',
            'data.box_enlarge')
UNIT_INTERVAL = ('data.flip_prob', 'data.rotation_prob', 'data.half_body_prob')

# Read by the loaders (`make_loader`), which check them, not by the dataset.
LOADER_FIELDS = ('data.loader', 'data.worker_start_method')


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """{'a.b.c': leaf} of a nested mapping."""
  flat = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    if isinstance(value, Mapping):
      flat.update(flatten(value, name + '.'))
    else:
      flat[name] = value
  return flat


def check_choice(field: str, value, choices: Mapping[str, tuple] = CHOICES) -> None:
  """Raises ConfigError unless `value` is one of choices[field] (field: e.g. 'data.loader')."""
  allowed = choices[field]
  if value not in allowed:
    because = NOT_ALLOWED_BECAUSE.get(field)
    raise ConfigError(f'config.{field}={value!r} is not one of {allowed}'
                      + (f' ({because})' if because else ''))


def check_bounds(flat: Mapping[str, Any], *, minimum: Mapping[str, float], positive,
                 unit_interval) -> None:
  """Raises ConfigError naming the first field of `flat` outside its bound."""
  for name, least in minimum.items():
    if flat[name] < least:
      raise ConfigError(f'config.{name}={flat[name]!r} must be >= {least}')
  for name in positive:
    if not flat[name] > 0:
      raise ConfigError(f'config.{name}={flat[name]!r} must be > 0')
  for name in unit_interval:
    if not 0 <= flat[name] <= 1:
      raise ConfigError(f'config.{name}={flat[name]!r} must be a probability in [0, 1]')


def validate_data_section(data: ml_collections.ConfigDict, *, loader: bool = True) -> None:
  """Raises ConfigError for a `config.data` the data pipeline cannot read as meant.

  Args:
    data: config.data.
    loader: also check the loader's fields (LOADER_FIELDS).
  """
  flat = flatten(data.to_dict(), 'data.')
  for field in CHOICES:
    if field.startswith('data.') and (loader or field not in LOADER_FIELDS):
      check_choice(field, flat[field])
  check_bounds(flat, minimum=MINIMUM, positive=POSITIVE, unit_interval=UNIT_INTERVAL)
  offsets = tuple(flat['data.supporting_offsets'])
  if not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
    raise ConfigError(f'config.data.supporting_offsets={offsets!r} must be integer frame '
                      'offsets, e.g. (-2, -1, 1, 2)')
  if data.num_joints != joints.NUM_JOINTS:
    # Named as the model's field: that is the one a user changes, and the data follows it.
    raise ConfigError(
        f'config.model.num_joints={data.num_joints!r} (shared with config.data.num_joints): the '
        f'data pipeline fills the {joints.NUM_JOINTS} joint slots of data_pipeline/joints.py '
        f"for every dataset (PoseTrack's 15 evaluated joints and the two ears it never "
        f'annotates; flips and evaluation use the same slots), so set {joints.NUM_JOINTS}')
  if len(data.mean) != 3 or len(data.std) != 3:
    raise ConfigError(f'config.data.mean and config.data.std need 3 values, got '
                      f'{tuple(data.mean)}, {tuple(data.std)}')
