"""Reading the PoseTrack18 (COCO-style, also PoseTrack21) layout of a per-video file.

``images`` with ``id, file_name, frame_id, vid_id, nframes, is_labeled,
ignore_regions_x/_y`` and ``annotations`` with ``image_id, track_id, bbox, bbox_head,
keypoints`` (17 x (x, y, v)) and, for predictions, ``scores``. The category's keypoint names
(required, as poseval requires them) map the listed keypoints onto the 17 slots. A file holds
one video: frames from two folders or two ``vid_id`` values are refused.
"""

from __future__ import annotations

import numpy as np

from data_pipeline import joints
from data_pipeline.posetrack_video import fields
from data_pipeline.posetrack_video.records import (
    MISSING_SCORE, POSETRACK18, PREDICTIONS, FrameAnnotation, PersonAnnotation, VideoAnnotation)

# Slot names some COCO-style exporters use for the head_bottom / head_top slots.
_SLOT_ALIASES = {'left_eye': 'head_bottom', 'right_eye': 'head_top', 'neck': 'head_bottom'}


def parse(data: dict, name: str, kind: str, src: fields.Source) -> VideoAnnotation:
  """The video of a COCO-style document (``images`` and ``annotations``)."""
  images = src.as_list(data['images'], 'images')
  annotations = src.as_list(src.get(data, 'annotations', '<top level>'), 'annotations')
  slots = _slot_table(data, src)
  frames, frame_of_image = [], {}
  one_video = fields.OneVideo(src)
  for index, image in enumerate(images):
    field = f'images[{index}]'
    image_id = src.integer(src.get(image, 'id', field), f'{field}.id')
    if image_id in frame_of_image:
      raise src.error(f'{field}.id', 'repeated image id', image_id)
    file_name = src.get(image, 'file_name', field)
    if not isinstance(file_name, str):
      raise src.error(f'{field}.file_name', 'expected a string', file_name)
    one_video.frame(file_name, f'{field}.file_name')
    if image.get('vid_id') is not None:
      one_video.video(str(image['vid_id']), f'{field}.vid_id')
    regions = []
    if 'ignore_regions_x' in image or 'ignore_regions_y' in image:
      xs = src.as_list(src.get(image, 'ignore_regions_x', field), f'{field}.ignore_regions_x')
      ys = src.as_list(src.get(image, 'ignore_regions_y', field), f'{field}.ignore_regions_y')
      if len(xs) != len(ys):
        raise src.error(f'{field}.ignore_regions_x',
                        f'{len(xs)} x polygons but {len(ys)} y polygons')
      regions = [src.polygon(x, y, f'{field}.ignore_regions[{r}]')
                 for r, (x, y) in enumerate(zip(xs, ys))]
    frame_of_image[image_id] = len(frames)
    frames.append(FrameAnnotation(
        file_name=file_name, frame_index=index, image_id=image_id,
        is_labeled=(src.flag(image['is_labeled'], f'{field}.is_labeled')
                    if 'is_labeled' in image else None),
        ignore_regions=regions))

  for a, annotation in enumerate(annotations):
    field = f'annotations[{a}]'
    image_id = src.integer(src.get(annotation, 'image_id', field), f'{field}.image_id')
    if image_id not in frame_of_image:
      raise src.error(f'{field}.image_id', 'no image with this id', image_id)
    frames[frame_of_image[image_id]].persons.append(
        _person(annotation, slots, kind, src, field))
  for frame in frames:
    if frame.is_labeled is None:
      frame.is_labeled = bool(frame.persons)
  return VideoAnnotation(name=name, layout=POSETRACK18, frames=frames,
                         video_id=one_video.video_id)


def _slot_table(data: dict, src: fields.Source) -> list[int]:
  """The 17-slot index of each keypoint the file lists (by category keypoint names).

  A file without categories is refused rather than read in an assumed order: poseval's
  PoseTrack18 reader (github.com/leonid-pishchulin/poseval, py/convert.py, Video.from_new)
  requires the category and its keypoint names too, so such a file is not evaluated there either.
  """
  categories = data.get('categories')
  if not categories:
    raise src.error('categories', 'missing: a PoseTrack18 file names the order of its '
                    'keypoints in categories[0].keypoints (poseval refuses a file without it)',
                    categories)
  categories = src.as_list(categories, 'categories')
  names = src.as_list(src.get(categories[0], 'keypoints', 'categories[0]'),
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


def _person(annotation: dict, slots: list[int], kind: str, src: fields.Source,
            field: str) -> PersonAnnotation:
  listed = np.zeros((joints.NUM_JOINTS, 3), np.float64)
  raw = src.numbers(src.get(annotation, 'keypoints', field), 3 * len(slots),
                    f'{field}.keypoints', f'{len(slots)} x (x, y, v)').reshape(-1, 3)
  listed[slots] = raw
  # As poseval's converter: a point is unannotated only when x, y and v are all zero.
  present = np.any(listed != 0, axis=1)
  keypoints = listed.copy()
  if kind == PREDICTIONS:
    scores = annotation.get('scores') or []
    if scores:
      keypoints[slots, 2] = src.numbers(scores, len(slots), f'{field}.scores', 'one per joint')
    else:
      keypoints[:, 2] = MISSING_SCORE
    keypoints[~present] = 0.0
  head_box = None
  if annotation.get('bbox_head') is not None:
    x, y, w, h = src.numbers(annotation['bbox_head'], 4, f'{field}.bbox_head', 'x, y, w, h')
    head_box = np.array([x, y, x + w, y + h])
  return PersonAnnotation(
      keypoints=keypoints, present=present, head_box=head_box,
      bbox=(src.numbers(annotation['bbox'], 4, f'{field}.bbox', 'x, y, w, h')
            if annotation.get('bbox') is not None else None),
      track_id=(src.integer(annotation['track_id'], f'{field}.track_id')
                if annotation.get('track_id') is not None else None),
      score=(src.number(annotation['score'], f'{field}.score')
             if annotation.get('score') is not None else None))
