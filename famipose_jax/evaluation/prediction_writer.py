"""Per-box predictions -> one prediction video per ground-truth video, every frame present.

As published (FAMI-Pose `evaluate` + `convert_data_to_annorect_struct`): each box becomes a
person with all joints, the person score is the box score and the track id its index in the
frame; a frame without any box gets one dummy person with a single point (poseval joint 0 at
(0, 0)) scored `eval.missing_frame_score` (-100), because poseval's tracking metrics need a
detection in every frame. Prediction files keep the ground truth's file names.

When every prediction carries a track id (ground-truth boxes with their track ids, or a
tracker's), that id is written instead of the index, so the files can be scored for tracking.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Iterable, Sequence

import numpy as np

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax.evaluation import posetrack_frames

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class PosePrediction:
  """One predicted person.

  Attributes:
    file_name: the frame's image path as the ground-truth file writes it.
    keypoints: [17, 3] image x, y and joint score (`decoding.image_keypoints`).
    box_score: the detector box score.
    bbox: [4] x, y, w, h of the box, or None.
    track_id: the person's track id (a ground-truth box's, a tracker's), or None.
  """
  file_name: str
  keypoints: np.ndarray
  box_score: float
  bbox: np.ndarray | None = None
  track_id: int | None = None


def have_track_ids(predictions: Sequence[PosePrediction]) -> bool:
  """Whether there are predictions and every one has a track id."""
  return bool(predictions) and all(p.track_id is not None for p in predictions)


def _key(file_name: str) -> str:
  return os.path.normpath(file_name.replace('\\', '/'))


def dummy_person(missing_frame_score: float) -> ptv.PersonAnnotation:
  """The published placeholder: poseval joint 0 at (0, 0) with the given score."""
  keypoints = np.zeros((joints.NUM_JOINTS, 3))
  present = np.zeros(joints.NUM_JOINTS, bool)
  slot = joints.SLOT_OF_EVAL_JOINT[0]
  keypoints[slot, 2] = missing_frame_score
  present[slot] = True
  return ptv.PersonAnnotation(keypoints=keypoints, present=present, track_id=0, score=0.0)


def assemble_predictions(gt_videos: Sequence[ptv.VideoAnnotation],
                         predictions: Iterable[PosePrediction], *,
                         missing_frame_score: float) -> list[ptv.VideoAnnotation]:
  """Prediction videos shaped like the ground truth (same names, frames, file names).

  Args:
    gt_videos: the ground-truth videos.
    predictions: every predicted person, in any order (order within a frame is kept).
    missing_frame_score: score of the dummy point in frames without predictions (-100).

  Returns:
    One prediction video per GT video. Track ids are the predictions' own when every one has
    one, else (as published) each person's index in its frame.

  Raises:
    ValueError: a prediction names a frame that no ground-truth video has.
  """
  predictions = list(predictions)
  tracked = have_track_ids(predictions)
  if not tracked and any(p.track_id is not None for p in predictions):
    _log.warning('%d of %d predictions have a track id: all are written with their index in '
                 'the frame instead', sum(p.track_id is not None for p in predictions),
                 len(predictions))
  persons_of = {}
  for video_index, video in enumerate(gt_videos):
    for frame_index, frame in enumerate(video.frames):
      persons_of[_key(frame.file_name)] = (video_index, frame_index)
  per_frame = [[[] for _ in video.frames] for video in gt_videos]
  for prediction in predictions:
    location = persons_of.get(_key(prediction.file_name))
    if location is None:
      raise posetrack_frames.EvaluationInputError(
          f'prediction for frame {prediction.file_name!r}, which no ground-truth video lists '
          f'(e.g. {next(iter(persons_of), None)!r})')
    frame_persons = per_frame[location[0]][location[1]]
    frame_persons.append(ptv.PersonAnnotation(
        keypoints=np.asarray(prediction.keypoints, np.float64),
        present=np.ones(joints.NUM_JOINTS, bool), bbox=prediction.bbox,
        track_id=int(prediction.track_id) if tracked else len(frame_persons),
        score=float(prediction.box_score)))
  videos = []
  for video, frames_persons in zip(gt_videos, per_frame):
    frames = [ptv.FrameAnnotation(file_name=frame.file_name, frame_index=frame.frame_index,
                                  image_id=frame.image_id, is_labeled=frame.is_labeled,
                                  persons=persons or [dummy_person(missing_frame_score)])
              for frame, persons in zip(video.frames, frames_persons)]
    videos.append(ptv.VideoAnnotation(name=video.name, layout=video.layout, frames=frames,
                                      video_id=video.video_id))
  return videos


def write_prediction_folder(videos: Sequence[ptv.VideoAnnotation], folder: str, *,
                            layout: str) -> list[str]:
  """Write `<folder>/<video name>.json` for every video (atomically); returns the paths."""
  os.makedirs(folder, exist_ok=True)
  paths = []
  for video in videos:
    path = os.path.join(folder, video.name + '.json')
    ptv.write_video(video, path, layout=layout, kind=ptv.PREDICTIONS)
    paths.append(path)
  return paths
