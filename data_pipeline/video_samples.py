"""Ground-truth samples from a folder of per-video PoseTrack files (either layout).

The alternative to the single-file training JSON (`data.annotation_source = 'per_video'`):
reads `<video_annotation_dir>/<split>/*.json` with `posetrack_video.read_video`. A person's box
is its `bbox` (PoseTrack18/21 layout) or, where the layout has none (PoseTrack17 annolist),
the extent of its listed joints and head box. Then the same published rules as the
single-file reader: clip to the image, drop persons with no labelled joint, visibility <= 1.
A video's frame count is the number of frames its file lists.
"""

from __future__ import annotations

import collections
import glob
import logging
import os

import numpy as np

from data_pipeline import posetrack_video
from data_pipeline.bad_input import BadInputError, BadInputPolicy
from data_pipeline.coco_keypoints import BoxConvention, box_problem, clean_box
from data_pipeline.samples import Sample, parse_frame_name

_log = logging.getLogger(__name__)


def person_box(person: posetrack_video.PersonAnnotation):
  """(x, y, w, h): the annotated box, else the extent of listed joints and the head box."""
  if person.bbox is not None:
    return tuple(float(v) for v in person.bbox)
  points = [person.keypoints[person.present, :2]]
  if person.head_box is not None:
    points.append(person.head_box.reshape(2, 2))
  points = np.concatenate(points, axis=0)
  if not len(points):
    return None
  low, high = points.min(axis=0), points.max(axis=0)
  return (float(low[0]), float(low[1]), float(high[0] - low[0]), float(high[1] - low[1]))


def read_video_folder(folder: str, *, num_joints: int, boxes: BoxConvention, numbering: str,
                      policy: BadInputPolicy, image_size) -> list[Sample]:
  """One sample per labelled person in every per-video file of `folder`, in name order."""
  paths = sorted(glob.glob(os.path.join(folder, '*.json')))
  if not paths:
    raise BadInputError(f'{folder}: no per-video annotation files (*.json)')
  samples = []
  dropped = collections.Counter()
  for path in paths:
    try:
      video = posetrack_video.read_video(path, posetrack_video.GROUND_TRUTH)
    except ValueError as e:
      policy(path, '<file>', os.path.basename(path), str(e))
      continue
    num_frames = len(video.frames)
    for frame in video.frames:
      if not frame.persons:
        continue
      where = f'frame {frame.frame_index}'
      try:
        name = parse_frame_name(frame.file_name, numbering)
      except ValueError as e:
        policy(path, f'{where}.file_name', frame.file_name, str(e))
        continue
      width, height = image_size(frame.file_name)
      for p, person in enumerate(frame.persons):
        keypoints = person.keypoints
        if keypoints.shape[0] != num_joints:
          policy(path, f'{where} person {p} keypoints', keypoints.shape,
                 f'expected {num_joints} joints')
          continue
        if np.max(keypoints) == 0:
          dropped['no labelled joint (published rule)'] += 1
          continue
        box = person_box(person)
        if box is None:
          dropped['no box and no joints'] += 1
          continue
        problem = box_problem(box, width, height)
        if problem:
          policy(path, f'{where} person {p} box', box, problem)
          continue
        box = clean_box(box, width, height)
        if box is None:
          dropped['empty box after clipping (published rule)'] += 1
          continue
        joints = np.asarray(keypoints, np.float32).copy()
        joints[:, 2] = np.where(person.present, np.minimum(joints[:, 2], 1.0), 0.0)
        center, scale = boxes.center_scale(box)
        samples.append(Sample(frame=name, num_frames=num_frames,
                              image_id=-1 if frame.image_id is None else int(frame.image_id),
                              box=box, center=center, scale=scale, box_score=1.0,
                              joints=joints, image_size=(int(width), int(height)),
                              track_id=-1 if person.track_id is None else int(person.track_id)))
  for reason, count in sorted(dropped.items()):
    _log.info('%s: dropped %d person(s): %s', folder, count, reason)
  policy.log_summary(folder)
  return samples
