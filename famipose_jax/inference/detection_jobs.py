"""The person detector over a whole video, in worker processes, while the caller does other work.

    with DetectionJob(frames, PersonDetector(), workers=2) as job:
      predictor = Predictor.from_checkpoint(...)      # meanwhile, the workers detect
      boxes = job.boxes(show_progress=None)           # per frame, PersonBox records

The detector is numpy and OpenCV and keeps about one core busy; frames are independent. Each
worker takes a contiguous range of frames and reads them itself: a video file or a folder is
reopened by path (a video is decoded from its start up to the range), frames in memory are sent
to the worker whose range holds them. Workers are spawned, not forked: the caller may already
run JAX, whose threads a fork would copy mid-work. As with any use of Python's
multiprocessing, a script that starts workers does so under `if __name__ == '__main__':`
(spawned workers import the script again). A job with `workers=0` detects in the calling
process when `boxes` is called (no processes, the same boxes).

`every` > 1 detects only every `every`-th frame (0, k, 2k, ..) and the last one; the other
frames get no boxes here (`box_tracker.link_tracks(detected=...)` carries tracks across them).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import signal

import cv2

from famipose_jax.inference import person_detector
from famipose_jax.inference import video_frames
from famipose_jax.inference.person_boxes import PersonBox
from famipose_jax.runtime import progress
from famipose_jax import errors

# Our choices: below the caller's priority (what the caller does meanwhile, loading and
# compiling a network, is usually the longer path), and at most 8 workers by default (each
# imports OpenCV and, for a video file, decodes it up to its range).
_NICENESS = 10
_MAX_DEFAULT_WORKERS = 8

_shared = {}     # in a worker: the job's frame counter and stop event


def default_workers() -> int:
  """One worker per CPU core this process may use, at most 8."""
  cores = (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
           else os.cpu_count() or 1)
  return max(1, min(cores, _MAX_DEFAULT_WORKERS))


def detected_frames(count: int, every: int) -> list[int]:
  """The frames the detector runs on: every `every`-th one from 0, and the last."""
  if every < 1:
    raise errors.InvalidInputError(f'detection every {every} frames: should be >= 1')
  numbers = list(range(0, count, every))
  if count and numbers[-1] != count - 1:
    numbers.append(count - 1)
  return numbers


class DetectionJob:
  """Person boxes of a video's frames, computed by worker processes from construction on."""

  def __init__(self, frames: video_frames.Frames,
               detector: person_detector.PersonDetector | None = None, *,
               workers: int | None = None, every: int = 1):
    """Starts the workers.

    Args:
      frames: the video (`video_frames.open_frames`, `video_frames.ArrayFrames`).
      detector: the detector and its settings (default: `PersonDetector()`).
      workers: processes (None: `default_workers()`; 0: none, detect in this process).
      every: detect every `every`-th frame and the last (see the module docstring).
    """
    workers = default_workers() if workers is None else int(workers)
    if workers < 0:
      raise errors.InvalidInputError(f'detection workers should be >= 0, got {workers}')
    self.frames = frames
    self.detector = detector or person_detector.PersonDetector()
    self.numbers = detected_frames(len(frames), every)
    self._result = None
    self._pool = None
    self._futures = []
    if workers == 0 or not self.numbers:
      return
    context = multiprocessing.get_context('spawn')
    self._counter, self._stop = context.Value('i', 0), context.Event()
    parts = min(workers, len(self.numbers))
    self._pool = concurrent.futures.ProcessPoolExecutor(
        parts, mp_context=context, initializer=_start_worker,
        initargs=(self._counter, self._stop))
    for p in range(parts):   # contiguous ranges: a video is decoded in order
      numbers = self.numbers[len(self.numbers) * p // parts:len(self.numbers) * (p + 1) // parts]
      self._futures.append(self._pool.submit(_detect, _frames_for(frames, numbers),
                                             self.detector, numbers))

  @property
  def in_workers(self) -> bool:
    """Whether worker processes detect (else `boxes` detects in this process)."""
    return bool(self._futures)

  def boxes(self, show_progress: bool | None = False) -> list[list[PersonBox]]:
    """Per frame, the detected person boxes (no track ids); waits for the workers.

    Raises what a worker raised (an unreadable frame, say), after stopping the others.
    """
    if self._result is not None:
      return self._result
    if self._futures and self._pool is None:
      raise errors.InvalidInputError('this detection job was closed before it finished')
    bar = progress.ProgressBar(len(self.numbers), 'detect', enabled=show_progress)
    found = {}
    try:
      if not self._futures:
        for n, t in enumerate(self.numbers):
          found[t] = _detect_frame(self.frames, self.detector, t)
          bar.update(n + 1)
      else:
        pending = set(self._futures)
        while pending:
          done, pending = concurrent.futures.wait(
              pending, timeout=0.25, return_when=concurrent.futures.FIRST_EXCEPTION)
          for future in done:
            found.update(future.result())    # raises a worker's error
          bar.update(self._counter.value)
    finally:
      bar.close()
      self.close()
    self._result = [found.get(t, []) for t in range(len(self.frames))]
    return self._result

  def close(self) -> None:
    """Stops the workers: each finishes the frame it is on and drops the rest of its range."""
    if self._pool is not None:
      self._stop.set()
      self._pool.shutdown(wait=True, cancel_futures=True)
      self._pool = None

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()


def _frames_for(frames: video_frames.Frames, numbers: list[int]):
  """What a worker detecting frames `numbers` receives: a file source as it is (it reads what
  it needs), frames in memory as {number: frame} of its range only."""
  if isinstance(frames, video_frames.ArrayFrames):
    return {t: frames[t] for t in numbers}
  return frames


def _start_worker(counter, stop) -> None:
  _shared.update(counter=counter, stop=stop)
  # Ctrl-C reaches every process of the terminal: the caller handles it and stops the job.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  cv2.setNumThreads(1)      # one core per worker: OpenCV's threads would compete with the others
  os.nice(_NICENESS)


def _detect_frame(frames, detector, t: int) -> list[PersonBox]:
  return detector(cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR))   # the detector reads BGR


def _detect(frames, detector, numbers: list[int]) -> dict[int, list[PersonBox]]:
  """In a worker: the boxes of frames `numbers` (until the job stops), counted as they go."""
  found = {}
  for t in numbers:
    if _shared['stop'].is_set():
      break
    found[t] = _detect_frame(frames, detector, t)
    with _shared['counter'].get_lock():
      _shared['counter'].value += 1
  return found
