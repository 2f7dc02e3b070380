"""Writing one per-video PoseTrack file in either layout, every frame included, atomically.

Converting a file between layouts is a read followed by a write. The PoseTrack17 layout has
no place for the ears or the person box; in the PoseTrack18 layout an annotated joint at
(0, 0) with visibility 0 would read back as unannotated, so it is refused.
"""

from __future__ import annotations

import numpy as np

from data_pipeline import atomic_files
from data_pipeline import joints
from data_pipeline.posetrack_video.records import (
    GROUND_TRUTH, KINDS, LAYOUTS, POSETRACK17, PREDICTIONS, VideoAnnotation)


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
      if points or person.has_point_list:
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
