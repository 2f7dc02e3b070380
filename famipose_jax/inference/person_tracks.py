"""Person tracks of a video from the built-in detector: detect in every frame, then link.

The predict command's default box source, and the Python API's one-call version of it.
"""

from __future__ import annotations

import cv2

from famipose_jax.runtime import progress
from famipose_jax.inference import box_tracker
from famipose_jax.inference import person_detector
from famipose_jax.inference.person_boxes import PersonBox


def detect_person_tracks(frames, detector: person_detector.PersonDetector | None = None, *,
                         min_iou: float = 0.3, max_missed: int = 5, smooth_window: int = 5,
                         min_track_length: int = 1,
                         show_progress: bool | None = False) -> list[list[PersonBox]]:
  """Per frame, the detected person boxes with track ids, smoothed along each track.

  Args:
    frames: the video's [H, W, 3] uint8 RGB frames (`video_frames.open_frames`, a list).
    detector: the detector and its settings (default: `PersonDetector()`).
    min_iou, max_missed, smooth_window, min_track_length: `box_tracker.link_tracks`'s.
    show_progress: draw a progress bar (None: when stderr is a terminal).
  """
  detector = detector or person_detector.PersonDetector()
  bar = progress.ProgressBar(len(frames), 'detect', enabled=show_progress)
  boxes = []
  for t, frame in enumerate(frames):
    boxes.append(detector(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)))
    bar.update(t + 1)
  bar.close()
  return box_tracker.link_tracks(boxes, min_iou=min_iou, max_missed=max_missed,
                                 smooth_window=smooth_window, min_track_length=min_track_length)
