"""The single-file COCO-style keypoint JSON (posetrack_train.json / posetrack_val.json).

DCPose, PoseWarper and FAMI-Pose train from one COCO-style file per split: `images` with
`id, file_name, nframes, frame_id` (and usually `width, height`), `annotations` with
`image_id, bbox [x, y, w, h], keypoints (17 x (x, y, v)), area, category_id, iscrowd`.
The published reader keeps, per image, the non-crowd person annotations whose box survives
clipping to the image (x2 = min(W - 1, x1 + max(0, w - 1)), the same for y; area > 0) and that
have at least one non-zero keypoint value; visibility is clipped to 1. Those rules are
reproduced here; malformed records go through the bad-input policy instead.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from typing import Callable

import numpy as np

from data_pipeline import crop_affine
from data_pipeline.bad_input import BadInputPolicy
from data_pipeline.json_files import finite_numbers, missing_field, read_json, require_list
from data_pipeline.samples import FrameName, Sample, parse_frame_name

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ImageRecord:
  image_id: int
  frame: FrameName
  num_frames: int
  width: int
  height: int


@dataclasses.dataclass(frozen=True)
class BoxConvention:
  """How a box becomes a crop: the aspect ratio of the input, enlargement and pixel_std."""
  aspect_ratio: float     # input width / height
  enlarge: float
  pixel_std: float

  def center_scale(self, box):
    return crop_affine.box_to_center_scale(box, self.aspect_ratio, self.enlarge, self.pixel_std)


def read_image_table(data: dict, path: str, *, numbering: str, policy: BadInputPolicy,
                     image_size: Callable[[str], tuple[int, int]],
                     count_frames: Callable[[str], int]) -> dict[int, ImageRecord]:
  """Parses `images` of a COCO-style file into {image id: ImageRecord}, in file order.

  Missing `width`/`height` are read from the frame file, missing `nframes` counted in the
  video folder (both through the callables, cached per folder by the frame source).
  """
  images = require_list(data, 'images', path)
  table: dict[int, ImageRecord] = {}
  for i, image in enumerate(images):
    where = f'images[{i}]'
    missing = missing_field(image, ('id', 'file_name'))
    if missing:
      policy(path, where, image, f'has no field {missing!r}')
      continue
    image_id, file_name = image['id'], image['file_name']
    try:
      frame = parse_frame_name(str(file_name), numbering)
    except ValueError as e:
      policy(path, f'{where}.file_name', file_name, str(e))
      continue
    num_frames = image.get('nframes')
    if num_frames is None:
      num_frames = count_frames(frame.folder)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames <= 0:
      policy(path, f'{where}.nframes', num_frames, 'should be a positive integer')
      continue
    if 'width' in image and 'height' in image:
      width, height = image['width'], image['height']
    else:
      width, height = image_size(frame.path_of(frame.number))
    if not finite_numbers([width, height], 2) or width <= 0 or height <= 0:
      policy(path, f'{where}.width/height', (width, height), 'should be positive numbers')
      continue
    table[image_id] = ImageRecord(image_id=image_id, frame=frame, num_frames=int(num_frames),
                                  width=int(width), height=int(height))
  return table


def clean_box(box, width: int, height: int):
  """The published clipping of a ground-truth box to the image: (x, y, w, h) or None if empty."""
  x, y, w, h = box
  x1 = max(0.0, x)
  y1 = max(0.0, y)
  x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
  y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
  if x2 < x1 or y2 < y1:
    return None
  return (x1, y1, x2 - x1, y2 - y1)


def box_problem(box, width: int, height: int) -> str | None:
  """Why a box cannot crop anything (zero size, or entirely outside the image), or None."""
  x, y, w, h = box
  if w <= 0 or h <= 0:
    return 'box has zero or negative size'
  if x >= width or y >= height or x + w <= 0 or y + h <= 0:
    return f'box lies entirely outside the {width}x{height} image'
  return None


def person_category_ids(data: dict) -> set:
  categories = data.get('categories') or []
  ids = {c.get('id') for c in categories if isinstance(c, dict) and c.get('name') == 'person'}
  return ids or {1}


def read_ground_truth(path: str, *, num_joints: int, boxes: BoxConvention, numbering: str,
                      policy: BadInputPolicy, image_size, count_frames
                      ) -> tuple[list[Sample], dict[int, ImageRecord]]:
  """One sample per labelled person of a COCO-style keypoint file, as the published reader.

  Returns:
    (samples in file order, the image table).
  """
  data = read_json(path)
  images = read_image_table(data, path, numbering=numbering, policy=policy,
                            image_size=image_size, count_frames=count_frames)
  annotations = require_list(data, 'annotations', path)
  persons = person_category_ids(data)
  by_image: dict[int, list] = collections.defaultdict(list)
  dropped = collections.Counter()
  for i, ann in enumerate(annotations):
    where = f'annotations[{i}]'
    missing = missing_field(ann, ('image_id', 'bbox', 'keypoints'))
    if missing:
      policy(path, where, ann, f'has no field {missing!r}')
      continue
    image_id, bbox, keypoints = ann['image_id'], ann['bbox'], ann['keypoints']
    if image_id not in images:
      policy(path, f'{where}.image_id', image_id, 'no image with this id in "images"')
      continue
    if ann.get('iscrowd', 0):
      dropped['crowd'] += 1
      continue
    if 'category_id' in ann and ann['category_id'] not in persons:
      dropped['not a person'] += 1
      continue
    if not finite_numbers(bbox, 4):
      policy(path, f'{where}.bbox', bbox, 'should be 4 finite numbers [x, y, w, h]')
      continue
    if not finite_numbers(keypoints, None):
      policy(path, f'{where}.keypoints', keypoints, 'should be a list of finite numbers')
      continue
    if len(keypoints) != 3 * num_joints:
      policy(path, f'{where}.keypoints', f'<{len(keypoints)} values>',
             f'should hold {3 * num_joints} values ({num_joints} joints x (x, y, v))')
      continue
    record = images[image_id]
    problem = box_problem(bbox, record.width, record.height)
    if problem:
      policy(path, f'{where}.bbox', bbox, problem)
      continue
    area = ann.get('area', bbox[2] * bbox[3])
    box = clean_box(bbox, record.width, record.height)
    if box is None or not area > 0:
      dropped['empty box after clipping (published rule)'] += 1
      continue
    if max(keypoints) == 0:
      dropped['no labelled joint (published rule)'] += 1
      continue
    by_image[image_id].append((ann, box, keypoints))

  samples = []
  for image_id, record in images.items():
    for ann, box, keypoints in by_image.get(image_id, ()):
      joints = np.asarray(keypoints, dtype=np.float32).reshape(num_joints, 3)
      joints[:, 2] = np.minimum(joints[:, 2], 1.0)
      center, scale = boxes.center_scale(box)
      samples.append(Sample(frame=record.frame, num_frames=record.num_frames,
                            image_id=image_id, box=tuple(float(v) for v in box),
                            center=center, scale=scale, box_score=1.0, joints=joints,
                            image_size=(record.width, record.height),
                            track_id=int(ann.get('track_id', -1))))
  for reason, count in sorted(dropped.items()):
    _log.info('%s: dropped %d annotation(s): %s', path, count, reason)
  policy.log_summary(path)
  return samples, images
