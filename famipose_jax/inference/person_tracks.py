"""Person tracks of a video from the built-in detector: detect, then link.

The predict command's default box source, and the Python API's one-call version of it.
"""

from __future__ import annotations

from famipose_jax.inference import box_tracker
from famipose_jax.inference import detection_jobs
from famipose_jax.inference import person_detector
from famipose_jax.inference import video_frames
from famipose_jax.inference.person_boxes import PersonBox


def detect_person_tracks(frames, detector: person_detector.PersonDetector | None = None, *,
                         min_iou: float = 0.3, max_missed: int = 5, smooth_window: int = 5,
                         min_track_length: int = 1, workers: int | None = 0, every: int = 1,
                         show_progress: bool | None = False) -> list[list[PersonBox]]:
  """Per frame, the detected person boxes with track ids, smoothed along each track.

  Args:
    frames: the video's [H, W, 3] uint8 RGB frames of one size (`video_frames.open_frames`, a
      list).
    detector: the detector and its settings (default: `PersonDetector()`).
    min_iou, max_missed, smooth_window, min_track_length: `box_tracker.link_tracks`'s.
    workers: detection processes (`detection_jobs.DetectionJob`; None: one per core, 0: none;
      processes are spawned: in a script, call this under `if __name__ == '__main__':`).
    every: detect in every `every`-th frame and the last; tracks are carried across the others
      (`box_tracker.link_tracks`' `detected`).
    show_progress: draw a progress bar (None: when stderr is a terminal).
  """
  box_tracker.check_link_settings(min_iou=min_iou, max_missed=max_missed,
                                  smooth_window=smooth_window, min_track_length=min_track_length)
  if not isinstance(frames, video_frames.Frames):
    if not len(frames):
      return []
    frames = video_frames.ArrayFrames(frames)   # checks: [H, W, 3] uint8, one size
  with detection_jobs.DetectionJob(frames, detector, workers=workers, every=every) as job:
    return tracks_of(job, show_progress=show_progress, min_iou=min_iou, max_missed=max_missed,
                     smooth_window=smooth_window, min_track_length=min_track_length)


def tracks_of(job: detection_jobs.DetectionJob, *, show_progress: bool | None = False,
              **link_settings) -> list[list[PersonBox]]:
  """A detection job's boxes linked into tracks (`box_tracker.link_tracks`' settings), each
  track carried across the frames the job skipped; waits for the job."""
  return box_tracker.link_tracks(job.boxes(show_progress), detected=job.numbers,
                                 **link_settings)
