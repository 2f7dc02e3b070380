"""The clip dataset: a sample list plus the per-sample function both loaders call.

`build_dataset(config.data, 'train' | 'val', codecs)` reads the annotations, checks that every
frame a clip needs exists, is readable and has the annotated size (data_pipeline/frame_checks.py),
and returns a `ClipDataset`. `ClipDataset.load(i, train=, seed=, epoch=)` turns sample i into
one batch element (`element_spec` lists its entries; batches add a leading axis; docs/data.md
describes a batch); its randomness is derived from (seed, epoch, i) alone, so any loader, worker
count or resume point produces the same element. The training targets are those of the given
codecs (handed in: famipose_jax.heads has them), so a run builds only what its head and
objectives read.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from data_pipeline import clip_frames
from data_pipeline import config as data_schema
from data_pipeline import clip_transform
from data_pipeline import frame_checks
from data_pipeline.augment import ClipAugmentation, draw_augmentation, no_augmentation, sample_rng
from data_pipeline.bad_input import BadInputError, BadInputPolicy
from data_pipeline.coco_keypoints import BoxConvention, read_ground_truth
from data_pipeline.detections import read_detections
from data_pipeline.frame_source import REDUCTIONS, make_frame_source
from data_pipeline.samples import Sample
from data_pipeline.errors import UserError
from data_pipeline.settings import DataSettings

_log = logging.getLogger(__name__)

SPLITS = ('train', 'val')


class SampleError(UserError, RuntimeError):
  """Loading one sample failed; the message names the sample and its key frame."""


class ClipDataset:
  """Samples of one split and how to turn one into a batch element.

  Attributes:
    samples: the `Sample` list (index = 'sample_index' in batches).
    settings: the flattened data config.
    source: where frames are read from.
    split: 'train' or 'val'.
    codecs: the target codecs (objects with encode, target_spec and target_keys, such as
      famipose_jax.heads'); the first one's weights are 'target_weight'. None: no targets.
  """

  def __init__(self, samples: list[Sample], settings: DataSettings, source, split: str,
               codecs=None):
    self.samples = samples
    self.settings = settings
    self.source = source
    self.split = split
    self.codecs = tuple(codecs or ())
    self.num_skipped = 0      # bad records dropped while building (data.on_bad_input='skip')

  def __len__(self) -> int:
    return len(self.samples)

  def __repr__(self):
    return f'ClipDataset({self.split!r}, {len(self)} samples, {self.source!r})'

  # --- what a batch element looks like -------------------------------------------------------

  def element_spec(self) -> dict[str, tuple[tuple, np.dtype]]:
    """{name: (shape, dtype)} of one element (batches add a leading axis)."""
    s = self.settings
    width, height = s.image_size
    k = s.num_joints
    f32 = np.dtype(np.float32)
    u8 = np.dtype(np.uint8)   # RGB pixels; famipose_jax.models.pixels normalises them on the device
    spec = {
        'key_image': ((height, width, 3), u8),
        'supporting_images': ((s.num_supporting, height, width, 3), u8),
        'target_weight': ((k,), f32),
    }
    if s.frame_offsets:
      spec['supporting_frame_offsets'] = ((s.num_supporting,), np.dtype(np.int32))
    for codec in self.codecs:
      spec.update(codec.target_spec(k))
    return spec | {
        'joints': ((k, 3), f32),
        'center': ((2,), f32),
        'scale': ((2,), f32),
        'rotation': ((), f32),
        'box_score': ((), f32),
        'sample_index': ((), np.dtype(np.int64)),
        'valid': ((), np.dtype(bool)),
    }

  def target_names(self) -> tuple[str, ...]:
    return tuple(name for codec in self.codecs for name in codec.target_keys)

  def empty_element(self) -> dict[str, np.ndarray]:
    return {name: np.zeros(shape, dtype) for name, (shape, dtype) in self.element_spec().items()}

  # --- per-sample metadata -------------------------------------------------------------------

  def clip_frame_numbers(self, index: int) -> list[int]:
    """Frame numbers of the clip: the key frame, then the supporting frames in offset order."""
    s = self.samples[index]
    support = clip_frames.supporting_frame_numbers(
        s.frame.number, s.frame.first_number, s.num_frames, self.settings.supporting_offsets,
        self.settings.boundary_rule)
    return [s.frame.number] + support

  def clip_files(self, index: int) -> list[str]:
    """Frame names of the clip, in `clip_frame_numbers` order."""
    frame = self.samples[index].frame
    return [frame.path_of(n) for n in self.clip_frame_numbers(index)]

  def metadata(self, index: int) -> dict:
    """What a prediction writer needs about sample `index`."""
    s = self.samples[index]
    return {
        'video': s.video_name,
        'video_folder': s.video_folder,
        'frame': s.frame.number,
        'frame_offset': s.frame.number - s.frame.first_number,   # 0-based position in the video
        'num_frames': s.num_frames,
        'image_id': s.image_id,
        'file_name': s.file_name,
        'clip_files': self.clip_files(index),
        'center': np.array(s.center),
        'scale': np.array(s.scale),
        'box': s.box,
        'box_score': s.box_score,
        'track_id': s.track_id,
        'image_size': s.image_size,
    }

  # --- the per-sample function ---------------------------------------------------------------

  def augmentation(self, index: int, *, train: bool, seed: int, epoch: int) -> ClipAugmentation:
    s = self.samples[index]
    if not train:
      return no_augmentation(s.center, s.scale)
    return draw_augmentation(sample_rng(seed, epoch, index), s.center, s.scale, s.joints,
                             self.settings)

  def decode_reduction(self, aug: ClipAugmentation) -> int:
    """The largest JPEG reduction (1, 2, 4, 8) not above the crop's own downsampling."""
    if self.settings.decode_reduction == 'off':
      return 1
    zoom = float(aug.scale[0]) * self.settings.pixel_std / self.settings.image_size[0]
    return max(r for r in REDUCTIONS if r <= zoom) if zoom >= 1 else 1

  def decoded_frame(self, name: str, matrix: np.ndarray, reduction: int,
                    size) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 BGR pixels, the crop matrix for them) of frame `name`, decoding only what the
    crop `matrix` reads. The pixels may be a per-thread buffer: warp before the next decode."""
    box = (clip_transform.source_region(matrix, self.settings.image_size, size)
           if reduction == 1 and self.settings.region_decode else None)
    if box is not None:
      pixels, origin, frame_size = self.source.read_region(name, box)
      if tuple(frame_size) == tuple(size):
        pixels = clip_transform.place_region(pixels, origin, frame_size)
    else:
      pixels = self.source.read(name, reduction)
      frame_size = (pixels.shape[1] * reduction, pixels.shape[0] * reduction)
      matrix = clip_transform.reduced_frame_matrix(matrix, reduction)
      if reduction > 1:   # a reduced decode rounds the size up: compare rounded sizes
        size = tuple(-(-v // reduction) * reduction for v in size)
    if tuple(frame_size) != tuple(size):
      raise BadInputError(f'{name}: frame is {frame_size[0]}x{frame_size[1]} pixels, the '
                          f'annotations say {size[0]}x{size[1]}')
    return pixels, matrix

  def load(self, index: int, *, train: bool, seed: int = 0, epoch: int = 0,
           out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Batch element for sample `index` (written into `out` if given).

    Raises:
      SampleError: naming the sample, its key frame and the cause.
    """
    try:
      return self._load(index, train=train, seed=seed, epoch=epoch, out=out)
    except Exception as e:  # Re-raised with the sample named; the cause stays chained.
      s = self.samples[index] if 0 <= index < len(self.samples) else None
      where = f'{s.file_name}, box {s.box}' if s else 'no such sample'
      raise SampleError(f'sample {index} ({where}): {type(e).__name__}: {e}') from e

  def _load(self, index, *, train, seed, epoch, out):
    settings = self.settings
    s = self.samples[index]
    if out is None:
      out = self.empty_element()
    aug = self.augmentation(index, train=train, seed=seed, epoch=epoch)
    width, height = s.image_size
    matrix = clip_transform.crop_matrix(aug, width, settings.image_size, settings.pixel_std,
                                        settings.crop_convention)
    reduction = self.decode_reduction(aug)

    def crop_into(number, slot):
      pixels, frame_matrix = self.decoded_frame(s.frame.path_of(number), matrix, reduction,
                                                (width, height))
      crop = clip_transform.warp_frame(pixels, frame_matrix, settings.image_size)
      clip_transform.bgr_to_rgb(crop, out=slot)

    numbers = self.clip_frame_numbers(index)
    clip_transform.fill_clip([out['key_image']] + list(out['supporting_images']), numbers,
                             crop_into)
    if settings.frame_offsets:
      out['supporting_frame_offsets'][...] = np.asarray(numbers[1:], np.int64) - numbers[0]

    if s.joints is not None:
      joints = clip_transform.crop_joints(s.joints, aug, width, settings.image_size,
                                          settings.pixel_std, settings.crop_convention,
                                          settings.flip_pairs)
      out['joints'][...] = joints
      if not self.codecs:   # no targets, nothing to weigh (`out` may be a reused buffer)
        out['target_weight'][...] = 0
      for i, codec in enumerate(self.codecs):
        encoded, weight = codec.encode(joints)
        for name, value in encoded.items():
          out[name][...] = value
        if i == 0:
          out['target_weight'][...] = weight
    else:   # Detection boxes: no ground truth to aim at.
      for name in ('joints', 'target_weight') + self.target_names():
        out[name][...] = 0
    out['center'][...] = clip_transform.crop_center(aug, width)
    out['scale'][...] = aug.scale
    out['rotation'][...] = aug.rotation
    out['box_score'][...] = s.box_score
    out['sample_index'][...] = index
    out['valid'][...] = True
    return out


# --- building the sample list ------------------------------------------------------------------


def _root_path(settings: DataSettings, relative: str) -> str:
  return relative if os.path.isabs(relative) else os.path.join(settings.root, relative)


def read_samples(data_config, split: str, settings: DataSettings, source,
                 policy: BadInputPolicy) -> list[Sample]:
  """The sample list of `split` as config.data describes it (before the frame check)."""
  boxes = BoxConvention(settings.aspect_ratio, settings.box_enlarge, settings.pixel_std)
  common = dict(numbering=settings.frame_numbering, policy=policy,
                image_size=source.image_size)
  use_ground_truth = split == 'train' or data_config.eval_boxes == 'ground_truth'
  if use_ground_truth and data_config.annotation_source == 'per_video':
    from data_pipeline import video_samples  # pylint: disable=g-import-not-at-top
    folder = os.path.join(_root_path(settings, data_config.video_annotation_dir), split)
    return video_samples.read_video_folder(folder, num_joints=settings.num_joints,
                                           boxes=boxes, **common)
  json_path = _root_path(settings, data_config.train_json if split == 'train'
                         else data_config.val_json)
  if use_ground_truth:
    samples, _ = read_ground_truth(json_path, num_joints=settings.num_joints, boxes=boxes,
                                   count_frames=source.count_frames, **common)
    return samples
  images = None
  if os.path.isfile(json_path):
    from data_pipeline.coco_keypoints import read_image_table  # pylint: disable=g-import-not-at-top
    from data_pipeline.json_files import read_json  # pylint: disable=g-import-not-at-top
    images = read_image_table(read_json(json_path), json_path,
                              count_frames=source.count_frames, **common)
  return read_detections(_root_path(settings, data_config.val_boxes_json),
                         score_threshold=settings.det_score_threshold, boxes=boxes,
                         images=images, count_frames=source.count_frames, **common)


def build_dataset(data_config, split: str, codecs=None,
                  clip: clip_frames.ClipSpec | None = None) -> ClipDataset:
  """The `ClipDataset` of `split` ('train' | 'val') described by `config.data`.

  Args:
    data_config: config.data.
    split: 'train' or 'val'.
    codecs: target codecs (famipose_jax.heads: an experiment passes its head's and its
      objectives'); None: no training targets (images and metadata only).
    clip: the frames a sample holds (a model family's; None: config.data's supporting_offsets
      and boundary_rule).
  """
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  # A section no run has validated yet; the loader checks its own fields.
  data_schema.validate_data_section(data_config, loader=False)
  settings = DataSettings.from_config(data_config, clip)
  source = make_frame_source(data_config)
  policy = BadInputPolicy(settings.on_bad_input)
  samples = read_samples(data_config, split, settings, source, policy)
  clips = ClipDataset(samples, settings, source, 'probe', codecs=())
  samples = frame_checks.check_clip_frames(samples, clips.clip_files, source, policy)
  policy.log_summary(f'{split} clip frames')
  if not samples:
    raise BadInputError(f'no usable {split} samples under {settings.root!r}'
                        + (f' ({policy.num_skipped} skipped as bad input)'
                           if policy.num_skipped else ''))
  _log.info('%s: %d samples', split, len(samples))
  dataset = ClipDataset(samples, settings, source, split, codecs)
  dataset.num_skipped = policy.num_skipped
  return dataset
