"""Predicted poses as a PoseTrack 2018 prediction file, which the evaluator reads back.

One file per video, every frame listed (frames without a person too), each person with its 17
keypoints and joint scores, its box, box score and track id; the file names are the frames'
(`video_frames.Frames.names`), so a prediction for a PoseTrack video pairs with its ground
truth file of the same name.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax import errors


def poses_to_video(name: str, frame_names: Sequence[str], poses) -> ptv.VideoAnnotation:
  """The prediction video of `poses` (per frame, PersonPose-like objects)."""
  if len(frame_names) != len(poses):
    raise errors.InvalidInputError(
        f'{len(frame_names)} frame names for {len(poses)} frames of poses')
  frames = []
  for index, (file_name, persons) in enumerate(zip(frame_names, poses)):
    frames.append(ptv.FrameAnnotation(
        file_name=file_name, frame_index=index, is_labeled=True,
        persons=[ptv.PersonAnnotation(keypoints=p.keypoints,
                                      present=np.ones(joints.NUM_JOINTS, bool),
                                      bbox=p.box, track_id=p.track_id, score=p.box_score)
                 for p in persons]))
  return ptv.VideoAnnotation(name=name, layout=ptv.POSETRACK18, frames=frames)


def write_poses(path: str, name: str, frame_names: Sequence[str], poses) -> None:
  """Writes the PoseTrack 2018 prediction file atomically."""
  ptv.write_video(poses_to_video(name, frame_names, poses), path, layout=ptv.POSETRACK18,
                  kind=ptv.PREDICTIONS)
