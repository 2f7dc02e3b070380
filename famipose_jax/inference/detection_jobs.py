"""The person detector over a whole video, in worker processes, while the caller does other work.

    with DetectionJob(frames, PersonDetector(), workers=2) as job:
      predictor = Predictor.from_checkpoint(...)      # meanwhile, the workers detect
      boxes = job.boxes(show_progress=None)           # per frame, PersonBox records

The detector is numpy and OpenCV and keeps about one core busy; frames are independent. Each
worker takes a contiguous range of frames and reads them itself from the frames' source (a video
file or folder is reopened by path, frames in memory are copied once): no frame crosses
between processes. Workers are spawned, not forked: the caller may already run JAX, whose
threads a fork would copy mid-work. A job with `workers=0` detects in the calling process
when `boxes` is called (no processes, the same boxes).

`every` > 1 detects only every `every`-th frame (0, k, 2k, ..) and the last one; the other
frames get no boxes here (`box_tracker.fill_between_detections` carries tracks across them).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

import cv2

from famipose_jax.inference import person_detector
from famipose_jax.inference.person_boxes import PersonBox
from famipose_jax.runtime import progress
from famipose_jax import errors

_NICENESS = 10
_done_counter = None     # in a worker: the job's shared count of frames detected


def default_workers() -> int:
  """The CPU cores this process may use: one worker each."""
  return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1


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

  def __init__(self, frames, detector: person_detector.PersonDetector | None = None, *,
               workers: int | None = None, every: int = 1):
    """
    Args:
      frames: the video (`video_frames.open_frames`, `video_frames.ArrayFrames`): a Frames
        object, which workers receive as a copy without its decoded frames.
      detector: the detector and its settings (default: `PersonDetector()`).
      workers: processes (None: one per available core; 0: none, detect in this process).
      every: detect every `every`-th frame and the last (see the module docstring).
    """
    workers = default_workers() if workers is None else int(workers)
    if workers < 0:
      raise errors.InvalidInputError(f'detection workers should be >= 0, got {workers}')
    self.frames = frames
    self.detector = detector or person_detector.PersonDetector()
    self.numbers = detected_frames(len(frames), every)
    self._pool = None
    self._futures = []
    if workers == 0:
      return
    context = multiprocessing.get_context('spawn')
    self._counter = context.Value('i', 0)
    parts = min(workers, len(self.numbers))
    self._pool = concurrent.futures.ProcessPoolExecutor(
        parts, mp_context=context, initializer=_start_worker, initargs=(self._counter,))
    for p in range(parts):   # contiguous ranges: a video is decoded in order
      numbers = self.numbers[len(self.numbers) * p // parts:len(self.numbers) * (p + 1) // parts]
      self._futures.append(self._pool.submit(_detect, frames, self.detector, numbers))

  def boxes(self, show_progress: bool | None = False) -> list[list[PersonBox]]:
    """Per frame, the detected person boxes (no track ids); waits for the workers.

    Raises what a worker raised (an unreadable frame, say), after stopping the others.
    """
    bar = progress.ProgressBar(len(self.numbers), 'detect', enabled=show_progress)
    found = {}
    try:
      if self._pool is None:
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
    return [found.get(t, []) for t in range(len(self.frames))]

  def close(self) -> None:
    """Stops the workers (any unfinished detection is dropped)."""
    if self._pool is not None:
      if not all(future.done() for future in self._futures):
        # Not waiting for ranges no longer wanted (an error elsewhere, an interrupt).
        processes = self._pool._processes or {}    # pylint: disable=protected-access
        for process in list(processes.values()):
          process.terminate()
      self._pool.shutdown(wait=True, cancel_futures=True)
      self._pool = None

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()


def _start_worker(counter) -> None:
  global _done_counter
  _done_counter = counter
  # One core per worker: OpenCV's own threads would compete with the other workers.
  cv2.setNumThreads(1)
  # Below the caller's priority: what the caller does meanwhile (load and compile a network)
  # is usually the longer path, and the workers take whatever cores it leaves.
  os.nice(_NICENESS)


def _detect_frame(frames, detector, t: int) -> list[PersonBox]:
  return detector(cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR))   # the detector reads BGR


def _detect(frames, detector, numbers: list[int]) -> dict[int, list[PersonBox]]:
  """In a worker: the boxes of frames `numbers`, counted in the job's shared counter."""
  found = {}
  for t in numbers:
    found[t] = _detect_frame(frames, detector, t)
    with _done_counter.get_lock():
      _done_counter.value += 1
  return found

