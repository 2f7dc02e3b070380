"""One PoseTrack video file (ground truth or predictions), in either published layout.

PoseTrack ships one JSON file per video in two layouts:

* ``posetrack17`` ("annolist"): a list of frames, each with ``image: [{name}]``, ``imgnum``,
  ``is_labeled``, ``ignore_regions`` polygons and ``annorect`` persons carrying a head box
  ``x1, y1, x2, y2``, ``track_id``, ``score`` and ``annopoints: [{point: [{id, x, y,
  is_visible | score}]}]`` with poseval joint ids 0..14. Values are usually 1-element lists.
* ``posetrack18`` (COCO-style, also PoseTrack21): ``images`` with ``id, file_name, frame_id,
  vid_id, nframes, is_labeled, ignore_regions_x/_y`` and ``annotations`` with ``image_id,
  track_id, bbox, bbox_head, keypoints`` (17 x (x, y, v)) and, for predictions, ``scores``.

Both read into the same dataclasses with keypoints in the 17-slot layout of
`data_pipeline.joints`; the writers produce either layout, so converting a file is a read
followed by a write. Whether a joint is listed in the file is kept apart from its coordinates
(`PersonAnnotation.present`), because poseval counts every listed ground-truth point as
annotated, visible or not. Coordinates are float64 so that the evaluator sees exactly the
numbers poseval sees.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Any

import numpy as np

from data_pipeline import atomic_files
from data_pipeline import joints

POSETRACK17 = 'posetrack17'
POSETRACK18 = 'posetrack18'
LAYOUTS = (POSETRACK17, POSETRACK18)

GROUND_TRUTH = 'ground_truth'
PREDICTIONS = 'predictions'
KINDS = (GROUND_TRUTH, PREDICTIONS)

# poseval's score for a predicted joint written without one (eval_helpers.MIN_SCORE).
MISSING_SCORE = -9999.0

# Slot names some COCO-style exporters use for the head_bottom / head_top slots.
_SLOT_ALIASES = {'left_eye': 'head_bottom', 'right_eye': 'head_top', 'neck': 'head_bottom'}


@dataclasses.dataclass
class PersonAnnotation:
  """One person in one frame.

  Attributes:
    keypoints: [17, 3] float64 in the 17-slot layout: x, y and the visibility flag (ground
      truth) or the joint score (predictions).
    present: [17] bool, which joints the file lists (annotated ground-truth joints, predicted
      joints). Defaults to the COCO convention: a joint is absent when x, y and the third
      value are all 0.
    head_box: [4] float64 head box x1, y1, x2, y2, or None.
    bbox: [4] float64 person box x, y, width, height, or None (PoseTrack18 layout only).
    track_id: integer track id, or None.
    score: person (box) score, or None.
  """
  keypoints: np.ndarray
  present: np.ndarray | None = None
  head_box: np.ndarray | None = None
  bbox: np.ndarray | None = None
  track_id: int | None = None
  score: float | None = None

  def __post_init__(self):
    self.keypoints = np.array(self.keypoints, dtype=np.float64).reshape(joints.NUM_JOINTS, 3)
    if self.present is None:
      self.present = np.any(self.keypoints != 0, axis=1)
    self.present = np.array(self.present, dtype=bool).reshape(joints.NUM_JOINTS)
    if self.head_box is not None:
      self.head_box = np.array(self.head_box, dtype=np.float64).reshape(4)
    if self.bbox is not None:
      self.bbox = np.array(self.bbox, dtype=np.float64).reshape(4)


@dataclasses.dataclass
class FrameAnnotation:
  """One frame of a video.

  Attributes:
    file_name: the image path as written in the file (relative to the dataset root).
    frame_index: 0-based position of the frame in the file.
    image_id: PoseTrack18 image id, or the PoseTrack17 ``imgnum``; None if the file has none.
    is_labeled: the file's ``is_labeled`` flag (default: the frame lists a person).
    ignore_regions: polygons, each [P, 2] float64 x, y; joints inside are not evaluated.
    persons: the persons, in file order.
  """
  file_name: str
  frame_index: int
  image_id: int | None = None
  is_labeled: bool = False
  ignore_regions: list[np.ndarray] = dataclasses.field(default_factory=list)
  persons: list[PersonAnnotation] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class VideoAnnotation:
  """All frames of one video file.

  Attributes:
    name: the file name without ``.json``; ground truth and predictions pair up by it.
    layout: the layout it was read from (``posetrack17`` or ``posetrack18``).
    frames: every frame, in file order.
    video_id: PoseTrack18 ``vid_id``, or None.
  """
  name: str
  layout: str
  frames: list[FrameAnnotation]
  video_id: str | None = None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


class _Source:
  """Names the file in every error, so a bad field can be found in a folder of hundreds."""

  def __init__(self, name: str):
    self.name = name

  def error(self, field: str, problem: str, value: Any = dataclasses.MISSING) -> ValueError:
    message = f'{self.name}: {field}: {problem}'
    if value is not dataclasses.MISSING:
      text = repr(value)
      message += f' (got {text[:120] + "..." if len(text) > 120 else text})'
    return ValueError(message)


def _unwrap(value, source: _Source, field: str):
  """PoseTrack17 wraps scalars in 1-element lists; accept both forms."""
  if isinstance(value, (list, tuple)):
    if len(value) != 1:
      raise source.error(field, 'expected a value or a 1-element list', value)
    return value[0]
  return value


def _number(value, source: _Source, field: str) -> float:
  value = _unwrap(value, source, field)
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise source.error(field, 'expected a number', value)
  if not math.isfinite(value):
    raise source.error(field, 'expected a finite number', value)
  return float(value)


def _integer(value, source: _Source, field: str) -> int:
  number = _number(value, source, field)
  if number != int(number):
    raise source.error(field, 'expected an integer', value)
  return int(number)


def _flag(value, source: _Source, field: str) -> bool:
  value = _unwrap(value, source, field)
  if isinstance(value, bool):
    return value
  return bool(_integer(value, source, field))


def _visibility(value, source: _Source, field: str) -> int:
  value = _unwrap(value, source, field)
  return int(value) if isinstance(value, bool) else _integer(value, source, field)


def _get(mapping, key: str, source: _Source, field: str):
  if not isinstance(mapping, dict):
    raise source.error(field, 'expected an object', mapping)
  if key not in mapping:
    raise source.error(f'{field}.{key}', 'missing field')
  return mapping[key]


def _list(value, source: _Source, field: str) -> list:
  if not isinstance(value, list):
    raise source.error(field, 'expected a list', value)
  return value


def _polygon(xs, ys, source: _Source, field: str) -> np.ndarray:
  xs, ys = _list(xs, source, field + '.x'), _list(ys, source, field + '.y')
  if len(xs) != len(ys):
    raise source.error(field, f'{len(xs)} x values but {len(ys)} y values')
  points = [[_number(x, source, f'{field}.x[{i}]'), _number(y, source, f'{field}.y[{i}]')]
            for i, (x, y) in enumerate(zip(xs, ys))]
  return np.array(points, dtype=np.float64).reshape(-1, 2)


def detect_layout(data) -> str:
  """``posetrack17`` for an annolist (or a bare list of frames), ``posetrack18`` for images."""
  if isinstance(data, list) or (isinstance(data, dict) and 'annolist' in data):
    return POSETRACK17
  if isinstance(data, dict) and 'images' in data:
    return POSETRACK18
  raise ValueError('neither "annolist" nor "images" at the top level')


def parse_video(data, *, name: str, kind: str = GROUND_TRUTH,
                source: str | None = None) -> VideoAnnotation:
  """Parse a decoded JSON document of either layout.

  Args:
    data: the decoded JSON.
    name: the video name (file name without ``.json``).
    kind: ``ground_truth`` (third keypoint value = visibility) or ``predictions`` (= score;
      a predicted joint without a score gets `MISSING_SCORE`, as poseval does).
    source: the file name used in error messages (default: ``name``).

  Returns:
    The video.

  Raises:
    ValueError: naming the file, the field and the value, on any malformed field.
  """
  if kind not in KINDS:
    raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
  src = _Source(source or name)
  try:
    layout = detect_layout(data)
  except ValueError as e:
    raise src.error('<top level>', str(e), type(data).__name__) from None
  if layout == POSETRACK17:
    return _parse_posetrack17(data, name, kind, src)
  return _parse_posetrack18(data, name, kind, src)


def read_video(path: str, kind: str = GROUND_TRUTH) -> VideoAnnotation:
  """Read one per-video file, detecting its layout (see `parse_video`)."""
  try:
    with open(path, 'rb') as f:
      data = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})'
                     ) from None
  except UnicodeDecodeError as e:
    raise ValueError(f'{path}: not valid JSON ({e})') from None
  name = os.path.splitext(os.path.basename(path))[0]
  return parse_video(data, name=name, kind=kind, source=path)


def _head_box_17(rect: dict, src: _Source, field: str) -> np.ndarray | None:
  keys = [k for k in ('x1', 'y1', 'x2', 'y2') if k in rect]
  if not keys:
    return None
  if len(keys) != 4:
    missing = sorted({'x1', 'y1', 'x2', 'y2'} - set(keys))
    raise src.error(f'{field}.{missing[0]}', 'head box incomplete: missing field')
  return np.array([_number(rect[k], src, f'{field}.{k}') for k in ('x1', 'y1', 'x2', 'y2')])


def _points_17(rect: dict, src: _Source, field: str) -> list:
  """The point list of an annorect; missing, [] and [{}] all mean no points."""
  annopoints = rect.get('annopoints')
  if annopoints is None or annopoints == []:
    return []
  if isinstance(annopoints, dict):
    annopoints = [annopoints]
  annopoints = _list(annopoints, src, f'{field}.annopoints')
  first = annopoints[0]
  if not isinstance(first, dict):
    raise src.error(f'{field}.annopoints[0]', 'expected an object', first)
  return _list(first.get('point', []), src, f'{field}.annopoints[0].point')


def _plain(value):
  """The finite number in `value` (or its 1-element list), else None."""
  if type(value) is list:  # pylint: disable=unidiomatic-typecheck
    if len(value) != 1:
      return None
    value = value[0]
  if type(value) is int or (type(value) is float and math.isfinite(value)):  # not bool
    return value
  return None


def _point_17_fast(point, kind: str):
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


def _point_17(point, kind: str, src: _Source, field: str):
  """(joint id, x, y, third) of one point, checked field by field to name a bad one."""
  joint_id = _integer(_get(point, 'id', src, field), src, field + '.id')
  x = _number(_get(point, 'x', src, field), src, field + '.x')
  y = _number(_get(point, 'y', src, field), src, field + '.y')
  if kind == PREDICTIONS:
    third = _number(point['score'], src, field + '.score') if 'score' in point else MISSING_SCORE
  else:
    third = (float(_visibility(point['is_visible'], src, field + '.is_visible'))
             if 'is_visible' in point else 1.0)
  return joint_id, x, y, third


def _person_17(rect, kind: str, src: _Source, field: str, counts: dict) -> PersonAnnotation:
  if not isinstance(rect, dict):
    raise src.error(field, 'expected an object', rect)
  keypoints = np.zeros((joints.NUM_JOINTS, 3), np.float64)
  present = np.zeros(joints.NUM_JOINTS, bool)
  for i, point in enumerate(_points_17(rect, src, field)):
    parsed = (_point_17_fast(point, kind)
              or _point_17(point, kind, src, f'{field}.annopoints[0].point[{i}]'))
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
      head_box=_head_box_17(rect, src, field),
      track_id=(_integer(rect['track_id'], src, f'{field}.track_id')
                if 'track_id' in rect else None),
      score=_number(rect['score'], src, f'{field}.score') if 'score' in rect else None)


def _image_name_17(frame: dict, src: _Source, field: str) -> str:
  image = _get(frame, 'image', src, field)
  if isinstance(image, list):
    if len(image) != 1:
      raise src.error(f'{field}.image', 'expected one image', image)
    image = image[0]
  name = _get(image, 'name', src, f'{field}.image')
  if not isinstance(name, str):
    raise src.error(f'{field}.image.name', 'expected a string', name)
  return name


def _parse_posetrack17(data, name: str, kind: str, src: _Source) -> VideoAnnotation:
  annolist = data if isinstance(data, list) else data['annolist']
  annolist = _list(annolist, src, 'annolist')
  counts = {'unknown_id': 0, 'duplicate_id': 0}
  frames = []
  for index, frame in enumerate(annolist):
    field = f'annolist[{index}]'
    if not isinstance(frame, dict):
      raise src.error(field, 'expected an object', frame)
    rects = _list(_get(frame, 'annorect', src, field), src, f'{field}.annorect')
    persons = [_person_17(rect, kind, src, f'{field}.annorect[{r}]', counts)
               for r, rect in enumerate(rects)]
    regions = []
    for r, region in enumerate(_list(frame.get('ignore_regions', []), src,
                                     f'{field}.ignore_regions')):
      rfield = f'{field}.ignore_regions[{r}].point'
      points = _list(_get(region, 'point', src, f'{field}.ignore_regions[{r}]'), src, rfield)
      xs = [_get(p, 'x', src, f'{rfield}[{i}]') for i, p in enumerate(points)]
      ys = [_get(p, 'y', src, f'{rfield}[{i}]') for i, p in enumerate(points)]
      regions.append(_polygon(xs, ys, src, rfield))
    frames.append(FrameAnnotation(
        file_name=_image_name_17(frame, src, field),
        frame_index=index,
        image_id=(_integer(frame['imgnum'], src, f'{field}.imgnum')
                  if 'imgnum' in frame else None),
        is_labeled=(_flag(frame['is_labeled'], src, f'{field}.is_labeled')
                    if 'is_labeled' in frame else bool(persons)),
        ignore_regions=regions,
        persons=persons))
  _log_skipped(src, counts)
  return VideoAnnotation(name=name, layout=POSETRACK17, frames=frames)


def _log_skipped(src: _Source, counts: dict):
  if counts['unknown_id']:
    logging.warning('%s: skipped %d points with a joint id outside 0..%d (poseval ignores them)',
                    src.name, counts['unknown_id'], joints.NUM_EVAL_JOINTS - 1)
  if counts['duplicate_id']:
    logging.warning('%s: skipped %d repeated joint ids within a person (poseval keeps the '
                    'first)', src.name, counts['duplicate_id'])


def _slot_table(data: dict, src: _Source) -> list[int]:
  """The 17-slot index of each keypoint the file lists (by category keypoint names)."""
  categories = data.get('categories')
  if not categories:
    return list(range(joints.NUM_JOINTS))
  categories = _list(categories, src, 'categories')
  names = _list(_get(categories[0], 'keypoints', src, 'categories[0]'), src,
                'categories[0].keypoints')
  table = []
  for i, slot_name in enumerate(names):
    slot_name = _SLOT_ALIASES.get(slot_name, slot_name)
    if slot_name not in joints.JOINT_NAMES:
      raise src.error(f'categories[0].keypoints[{i}]', 'unknown joint name', slot_name)
    table.append(joints.JOINT_NAMES.index(slot_name))
  if len(set(table)) != len(table):
    raise src.error('categories[0].keypoints', 'a joint is named twice', names)
  return table


def _parse_posetrack18(data: dict, name: str, kind: str, src: _Source) -> VideoAnnotation:
  images = _list(data['images'], src, 'images')
  annotations = _list(_get(data, 'annotations', src, '<top level>'), src, 'annotations')
  slots = _slot_table(data, src)
  frames, frame_of_image, video_id = [], {}, None
  for index, image in enumerate(images):
    field = f'images[{index}]'
    image_id = _integer(_get(image, 'id', src, field), src, f'{field}.id')
    if image_id in frame_of_image:
      raise src.error(f'{field}.id', 'repeated image id', image_id)
    file_name = _get(image, 'file_name', src, field)
    if not isinstance(file_name, str):
      raise src.error(f'{field}.file_name', 'expected a string', file_name)
    regions = []
    if 'ignore_regions_x' in image or 'ignore_regions_y' in image:
      xs = _list(_get(image, 'ignore_regions_x', src, field), src, f'{field}.ignore_regions_x')
      ys = _list(_get(image, 'ignore_regions_y', src, field), src, f'{field}.ignore_regions_y')
      if len(xs) != len(ys):
        raise src.error(f'{field}.ignore_regions_x',
                        f'{len(xs)} x polygons but {len(ys)} y polygons')
      regions = [_polygon(x, y, src, f'{field}.ignore_regions[{r}]')
                 for r, (x, y) in enumerate(zip(xs, ys))]
    if video_id is None and image.get('vid_id') is not None:
      video_id = str(image['vid_id'])
    frame_of_image[image_id] = len(frames)
    frames.append(FrameAnnotation(
        file_name=file_name, frame_index=index, image_id=image_id,
        is_labeled=(_flag(image['is_labeled'], src, f'{field}.is_labeled')
                    if 'is_labeled' in image else None),
        ignore_regions=regions))

  for a, annotation in enumerate(annotations):
    field = f'annotations[{a}]'
    image_id = _integer(_get(annotation, 'image_id', src, field), src, f'{field}.image_id')
    if image_id not in frame_of_image:
      raise src.error(f'{field}.image_id', 'no image with this id', image_id)
    frames[frame_of_image[image_id]].persons.append(
        _person_18(annotation, slots, kind, src, field))
  for frame in frames:
    if frame.is_labeled is None:
      frame.is_labeled = bool(frame.persons)
  return VideoAnnotation(name=name, layout=POSETRACK18, frames=frames, video_id=video_id)


def _numbers(value, length: int, src: _Source, field: str, what: str) -> np.ndarray:
  values = _list(value, src, field)
  if len(values) != length:
    raise src.error(field, f'expected {length} numbers ({what}), got {len(values)}')
  if all(type(v) is int or type(v) is float for v in values):  # not bool
    array = np.array(values, np.float64)
    if np.all(np.isfinite(array)):
      return array
  return np.array([_number(v, src, f'{field}[{i}]') for i, v in enumerate(values)], np.float64)


def _person_18(annotation: dict, slots: list[int], kind: str, src: _Source,
               field: str) -> PersonAnnotation:
  listed = np.zeros((joints.NUM_JOINTS, 3), np.float64)
  raw = _numbers(_get(annotation, 'keypoints', src, field), 3 * len(slots), src,
                 f'{field}.keypoints', f'{len(slots)} x (x, y, v)').reshape(-1, 3)
  listed[slots] = raw
  # As poseval's converter: a point is unannotated only when x, y and v are all zero.
  present = np.any(listed != 0, axis=1)
  keypoints = listed.copy()
  if kind == PREDICTIONS:
    scores = annotation.get('scores') or []
    if scores:
      keypoints[slots, 2] = _numbers(scores, len(slots), src, f'{field}.scores', 'one per joint')
    else:
      keypoints[:, 2] = MISSING_SCORE
    keypoints[~present] = 0.0
  head_box = None
  if annotation.get('bbox_head') is not None:
    x, y, w, h = _numbers(annotation['bbox_head'], 4, src, f'{field}.bbox_head', 'x, y, w, h')
    head_box = np.array([x, y, x + w, y + h])
  return PersonAnnotation(
      keypoints=keypoints, present=present, head_box=head_box,
      bbox=(_numbers(annotation['bbox'], 4, src, f'{field}.bbox', 'x, y, w, h')
            if annotation.get('bbox') is not None else None),
      track_id=(_integer(annotation['track_id'], src, f'{field}.track_id')
                if annotation.get('track_id') is not None else None),
      score=(_number(annotation['score'], src, f'{field}.score')
             if annotation.get('score') is not None else None))


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _check_finite(values: np.ndarray, where: str):
  if not np.all(np.isfinite(values)):
    raise ValueError(f'{where}: non-finite value {values.tolist()}')


def _validate_for_writing(video: VideoAnnotation):
  for frame in video.frames:
    for p, person in enumerate(frame.persons):
      where = f'video {video.name!r} frame {frame.frame_index} person {p}'
      _check_finite(person.keypoints[person.present], where + ' keypoints')
      for label, box in (('head_box', person.head_box), ('bbox', person.bbox)):
        if box is not None:
          _check_finite(box, f'{where} {label}')
    for r, region in enumerate(frame.ignore_regions):
      _check_finite(region, f'video {video.name!r} frame {frame.frame_index} ignore region {r}')


def _image_ids(video: VideoAnnotation) -> list[int]:
  """Each frame's image id; frames without one get imgnum-style ids (position + 1)."""
  ids = [f.image_id if f.image_id is not None else f.frame_index + 1 for f in video.frames]
  if len(set(ids)) != len(ids):
    raise ValueError(f'video {video.name!r}: repeated image ids {ids}')
  return ids


def to_posetrack17(video: VideoAnnotation, kind: str = GROUND_TRUTH) -> dict:
  """The ``annolist`` document. The ears and the person box have no place in it."""
  _validate_for_writing(video)
  annolist = []
  for frame, image_id in zip(video.frames, _image_ids(video)):
    rects = []
    for person in frame.persons:
      rect = {}
      if person.head_box is not None:
        for key, value in zip(('x1', 'y1', 'x2', 'y2'), person.head_box):
          rect[key] = [float(value)]
      if person.score is not None:
        rect['score'] = [float(person.score)]
      if person.track_id is not None:
        rect['track_id'] = [int(person.track_id)]
      points = []
      for eval_id, slot in enumerate(joints.SLOT_OF_EVAL_JOINT):
        if not person.present[slot]:
          continue
        x, y, third = (float(v) for v in person.keypoints[slot])
        point = {'id': [eval_id], 'x': [x], 'y': [y]}
        if kind == PREDICTIONS:
          point['score'] = [third]
        else:
          point['is_visible'] = [int(third)]
        points.append(point)
      rect['annopoints'] = [{'point': points}]
      rects.append(rect)
    element = {'image': [{'name': frame.file_name}], 'imgnum': [image_id],
               'is_labeled': [int(frame.is_labeled)]}
    if frame.ignore_regions:
      element['ignore_regions'] = [
          {'point': [{'x': [float(x)], 'y': [float(y)]} for x, y in region]}
          for region in frame.ignore_regions]
    element['annorect'] = rects
    annolist.append(element)
  return {'annolist': annolist}


def to_posetrack18(video: VideoAnnotation, kind: str = GROUND_TRUTH) -> dict:
  """The COCO-style document, with the 17 slot names as the category's keypoints."""
  _validate_for_writing(video)
  images, annotations = [], []
  for frame, image_id in zip(video.frames, _image_ids(video)):
    image = {'id': image_id, 'file_name': frame.file_name, 'frame_id': image_id,
             'vid_id': video.video_id if video.video_id is not None else video.name,
             'nframes': len(video.frames), 'is_labeled': bool(frame.is_labeled)}
    if frame.ignore_regions:
      image['ignore_regions_x'] = [[float(x) for x in r[:, 0]] for r in frame.ignore_regions]
      image['ignore_regions_y'] = [[float(y) for y in r[:, 1]] for r in frame.ignore_regions]
    images.append(image)
    for p, person in enumerate(frame.persons):
      keypoints = np.zeros((joints.NUM_JOINTS, 3), np.float64)
      keypoints[person.present, :2] = person.keypoints[person.present, :2]
      if kind == PREDICTIONS:
        keypoints[person.present, 2] = 1.0
      else:
        keypoints[person.present, 2] = person.keypoints[person.present, 2]
        unwritable = person.present & np.all(keypoints == 0, axis=1)
        if np.any(unwritable):
          raise ValueError(
              f'video {video.name!r} frame {frame.frame_index} person {p}: an annotated joint '
              f'at (0, 0) with visibility 0 reads back as unannotated in the posetrack18 '
              f'layout (slots {np.flatnonzero(unwritable).tolist()})')
      annotation = {'id': len(annotations), 'image_id': image_id, 'category_id': 1,
                    'keypoints': [float(v) if i % 3 != 2 else int(v)
                                  for i, v in enumerate(keypoints.reshape(-1))]}
      if person.track_id is not None:
        annotation['track_id'] = int(person.track_id)
      if person.bbox is not None:
        annotation['bbox'] = [float(v) for v in person.bbox]
      if person.head_box is not None:
        x1, y1, x2, y2 = (float(v) for v in person.head_box)
        annotation['bbox_head'] = [x1, y1, x2 - x1, y2 - y1]
      if kind == PREDICTIONS:
        annotation['scores'] = [float(s) if present else 0.0
                                for s, present in zip(person.keypoints[:, 2], person.present)]
      if person.score is not None:
        annotation['score'] = float(person.score)
      annotations.append(annotation)
  category = {'id': 1, 'name': 'person', 'supercategory': 'person',
              'keypoints': list(joints.JOINT_NAMES),
              'skeleton': [[a + 1, b + 1] for a, b in joints.SKELETON]}
  return {'images': images, 'annotations': annotations, 'categories': [category]}


def write_video(video: VideoAnnotation, path: str, *, layout: str | None = None,
                kind: str = GROUND_TRUTH):
  """Write one video file atomically, every frame included.

  Args:
    video: the video.
    path: destination file.
    layout: ``posetrack17`` or ``posetrack18`` (default: the layout it was read from).
    kind: ``ground_truth`` writes visibility flags, ``predictions`` writes joint scores.
  """
  layout = layout or video.layout
  if layout not in LAYOUTS:
    raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
  if kind not in KINDS:
    raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
  document = (to_posetrack17(video, kind) if layout == POSETRACK17
              else to_posetrack18(video, kind))
  atomic_files.write_json_atomic(path, document, compact=True, allow_nan=False)
