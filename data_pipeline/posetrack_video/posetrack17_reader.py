"""Reading the PoseTrack17 ("annolist") layout of a per-video file.

A list of frames, each with ``image: [{name}]``, ``imgnum``, ``is_labeled``, ``ignore_regions``
polygons and ``annorect`` persons carrying a head box ``x1, y1, x2, y2``, ``track_id``,
``score`` and ``annopoints: [{point: [{id, x, y, is_visible | score}]}]`` with poseval joint
ids 0..14. Values are usually 1-element lists. Points are read as poseval reads them: unknown
joint ids and repeated ones are skipped (and counted in a warning). A file holds one video:
frames from two folders are refused.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from data_pipeline import joints
from data_pipeline.posetrack_video import fields
from data_pipeline.posetrack_video.records import (
    MISSING_SCORE, POSETRACK17, PREDICTIONS, FrameAnnotation, PersonAnnotation, VideoAnnotation)


def parse(data, name: str, kind: str, src: fields.Source) -> VideoAnnotation:
  """The video of an annolist document (or a bare list of frames)."""
  annolist = data if isinstance(data, list) else data['annolist']
  annolist = src.as_list(annolist, 'annolist')
  counts = {'unknown_id': 0, 'duplicate_id': 0}
  frames = []
  one_video = fields.OneVideo(src)
  for index, frame in enumerate(annolist):
    field = f'annolist[{index}]'
    if not isinstance(frame, dict):
      raise src.error(field, 'expected an object', frame)
    rects = src.as_list(src.get(frame, 'annorect', field), f'{field}.annorect')
    persons = [_person(rect, kind, src, f'{field}.annorect[{r}]', counts)
               for r, rect in enumerate(rects)]
    regions = []
    for r, region in enumerate(src.as_list(frame.get('ignore_regions', []),
                                           f'{field}.ignore_regions')):
      rfield = f'{field}.ignore_regions[{r}].point'
      points = src.as_list(src.get(region, 'point', f'{field}.ignore_regions[{r}]'), rfield)
      xs = [src.get(p, 'x', f'{rfield}[{i}]') for i, p in enumerate(points)]
      ys = [src.get(p, 'y', f'{rfield}[{i}]') for i, p in enumerate(points)]
      regions.append(src.polygon(xs, ys, rfield))
    file_name = _image_name(frame, src, field)
    one_video.frame(file_name, f'{field}.image')
    frames.append(FrameAnnotation(
        file_name=file_name,
        frame_index=index,
        image_id=(src.integer(frame['imgnum'], f'{field}.imgnum')
                  if 'imgnum' in frame else None),
        is_labeled=(src.flag(frame['is_labeled'], f'{field}.is_labeled')
                    if 'is_labeled' in frame else bool(persons)),
        ignore_regions=regions,
        persons=persons))
  _log_skipped(src, counts)
  return VideoAnnotation(name=name, layout=POSETRACK17, frames=frames)


def _log_skipped(src: fields.Source, counts: dict):
  if counts['unknown_id']:
    logging.warning('%s: skipped %d points with a joint id outside 0..%d (poseval ignores them)',
                    src.name, counts['unknown_id'], joints.NUM_EVAL_JOINTS - 1)
  if counts['duplicate_id']:
    logging.warning('%s: skipped %d repeated joint ids within a person (poseval keeps the '
                    'first)', src.name, counts['duplicate_id'])


def _image_name(frame: dict, src: fields.Source, field: str) -> str:
  image = src.get(frame, 'image', field)
  if isinstance(image, list):
    if len(image) != 1:
      raise src.error(f'{field}.image', 'expected one image', image)
    image = image[0]
  name = src.get(image, 'name', f'{field}.image')
  if not isinstance(name, str):
    raise src.error(f'{field}.image.name', 'expected a string', name)
  return name


def _person(rect, kind: str, src: fields.Source, field: str,
            counts: dict) -> PersonAnnotation:
  if not isinstance(rect, dict):
    raise src.error(field, 'expected an object', rect)
  keypoints = np.zeros((joints.NUM_JOINTS, 3), np.float64)
  present = np.zeros(joints.NUM_JOINTS, bool)
  points = _points(rect, src, field)
  for i, point in enumerate(points or []):
    parsed = (_point_fast(point, kind)
              or _point(point, kind, src, f'{field}.annopoints[0].point[{i}]'))
    joint_id = parsed[0]
    if not 0 <= joint_id < joints.NUM_EVAL_JOINTS:
      counts['unknown_id'] += 1  # poseval ignores ids it does not know
      continue
    slot = joints.SLOT_OF_EVAL_JOINT[joint_id]
    if present[slot]:
      counts['duplicate_id'] += 1  # poseval uses the first point with an id
      continue
    keypoints[slot] = parsed[1:]
    present[slot] = True
  return PersonAnnotation(
      keypoints=keypoints, present=present,
      head_box=_head_box(rect, src, field),
      track_id=(src.integer(rect['track_id'], f'{field}.track_id')
                if 'track_id' in rect else None),
      score=src.number(rect['score'], f'{field}.score') if 'score' in rect else None,
      has_point_list=points is not None)


def _points(rect: dict, src: fields.Source, field: str) -> list | None:
  """The point list of an annorect, or None when it has none (missing, [] or [{}])."""
  annopoints = rect.get('annopoints')
  if annopoints is None or annopoints == []:
    return None
  if isinstance(annopoints, dict):
    annopoints = [annopoints]
  annopoints = src.as_list(annopoints, f'{field}.annopoints')
  first = annopoints[0]
  if not isinstance(first, dict):
    raise src.error(f'{field}.annopoints[0]', 'expected an object', first)
  if 'point' not in first:
    return None
  return src.as_list(first['point'], f'{field}.annopoints[0].point')


def _point_fast(point, kind: str):
  """(joint id, x, y, third) of a well-formed point, or None to take the checked path."""
  if type(point) is not dict:  # pylint: disable=unidiomatic-typecheck
    return None
  joint_id, x, y = _plain(point.get('id')), _plain(point.get('x')), _plain(point.get('y'))
  if joint_id is None or x is None or y is None or joint_id != int(joint_id):
    return None
  if kind == PREDICTIONS:
    third = _plain(point['score']) if 'score' in point else MISSING_SCORE
  elif 'is_visible' in point:
    third = point['is_visible']
    third = third[0] if type(third) is list and len(third) == 1 else third
    third = float(third) if isinstance(third, bool) else _plain(third)
    if third is not None and third != int(third):
      return None
  else:
    third = 1.0
  if third is None:
    return None
  return int(joint_id), float(x), float(y), float(third)


def _plain(value):
  """The finite number in `value` (or its 1-element list), else None."""
  if type(value) is list:  # pylint: disable=unidiomatic-typecheck
    if len(value) != 1:
      return None
    value = value[0]
  if type(value) is int or (type(value) is float and math.isfinite(value)):  # not bool
    return value
  return None


def _point(point, kind: str, src: fields.Source, field: str):
  """(joint id, x, y, third) of one point, checked field by field to name a bad one."""
  joint_id = src.integer(src.get(point, 'id', field), field + '.id')
  x = src.number(src.get(point, 'x', field), field + '.x')
  y = src.number(src.get(point, 'y', field), field + '.y')
  if kind == PREDICTIONS:
    third = (src.number(point['score'], field + '.score') if 'score' in point
             else MISSING_SCORE)
  else:
    third = (float(src.visibility(point['is_visible'], field + '.is_visible'))
             if 'is_visible' in point else 1.0)
  return joint_id, x, y, third


def _head_box(rect: dict, src: fields.Source, field: str) -> np.ndarray | None:
  keys = [k for k in ('x1', 'y1', 'x2', 'y2') if k in rect]
  if not keys:
    return None
  if len(keys) != 4:
    missing = sorted({'x1', 'y1', 'x2', 'y2'} - set(keys))
    raise src.error(f'{field}.{missing[0]}', 'head box incomplete: missing field')
  return np.array([src.number(rect[k], f'{field}.{k}') for k in ('x1', 'y1', 'x2', 'y2')])
