"""Precomputed person boxes for evaluation (the published val/test protocol).

A JSON list of `{image_name or image_id, bbox [x, y, w, h], score, category_id}` (DCPose's
val_boxes.json also carries `nframes` and `frame_id`). Boxes with `score < threshold` (0.2
published) are dropped, no NMS, no clipping; the file's order is kept.
"""

from __future__ import annotations

import collections
import logging
from typing import Callable

from data_pipeline.bad_input import BadInputError, BadInputPolicy
from data_pipeline.coco_keypoints import BoxConvention, ImageRecord, box_problem
from data_pipeline.json_files import finite_numbers, read_json
from data_pipeline.samples import Sample, parse_frame_name

_log = logging.getLogger(__name__)


def read_detections(path: str, *, score_threshold: float, boxes: BoxConvention, numbering: str,
                    policy: BadInputPolicy, images: dict[int, ImageRecord] | None,
                    image_size: Callable[[str], tuple[int, int]],
                    count_frames: Callable[[str], int]) -> list[Sample]:
  """One sample per detection box scoring at least `score_threshold`.

  Args:
    path: the detection JSON.
    images: {image id: ImageRecord} of the split (from its COCO-style file), needed when
      detections name images by `image_id`; also supplies frame counts and image sizes.
    image_size, count_frames: fallbacks for images the table does not know.
  """
  data = read_json(path)
  if not isinstance(data, list):
    raise BadInputError(f'{path}: a detection file should be a JSON list of boxes, got '
                        f'{type(data).__name__}')
  by_name = {r.frame.path_of(r.frame.number): r for r in (images or {}).values()}
  samples = []
  dropped = collections.Counter()
  for i, det in enumerate(data):
    where = f'[{i}]'
    if not isinstance(det, dict):
      policy(path, where, det, 'should be a JSON object')
      continue
    if det.get('category_id', 1) != 1:
      dropped['not a person'] += 1
      continue
    for key in ('bbox', 'score'):
      if key not in det:
        policy(path, where, det, f'has no field {key!r}')
        break
    else:
      key = None
    if key is not None:
      continue
    bbox, score = det['bbox'], det['score']
    if not finite_numbers(bbox, 4):
      policy(path, f'{where}.bbox', bbox, 'should be 4 finite numbers [x, y, w, h]')
      continue
    if not finite_numbers([score], 1):
      policy(path, f'{where}.score', score, 'should be a finite number')
      continue
    if score < score_threshold:
      dropped[f'score below {score_threshold}'] += 1
      continue

    record = None
    if 'image_name' in det:
      file_name = str(det['image_name'])
      record = by_name.get(file_name)
    elif 'image_id' in det:
      record = (images or {}).get(det['image_id'])
      if record is None:
        policy(path, f'{where}.image_id', det['image_id'],
               'unknown image id (detections by image_id need the split\'s COCO-style '
               'file, data.val_json, listing that id)')
        continue
      file_name = record.frame.path_of(record.frame.number)
    else:
      policy(path, where, det, "has neither 'image_name' nor 'image_id'")
      continue
    try:
      frame = parse_frame_name(file_name, numbering)
    except ValueError as e:
      policy(path, f'{where}.image_name', file_name, str(e))
      continue

    if record is not None:
      num_frames, width, height = record.num_frames, record.width, record.height
      image_id = record.image_id
    else:
      num_frames = det.get('nframes') or count_frames(frame.folder)
      width, height = image_size(file_name)
      image_id = int(det.get('image_id', -1))
    problem = box_problem(bbox, width, height)
    if problem:
      policy(path, f'{where}.bbox', bbox, problem)
      continue
    center, scale = boxes.center_scale(bbox)
    samples.append(Sample(frame=frame, num_frames=int(num_frames), image_id=image_id,
                          box=tuple(float(v) for v in bbox), center=center, scale=scale,
                          box_score=float(score), joints=None,
                          image_size=(int(width), int(height))))
  for reason, count in sorted(dropped.items()):
    _log.info('%s: dropped %d box(es): %s', path, count, reason)
  policy.log_summary(path)
  return samples
