"""Predicted poses drawn on their frames, and the overlay video written all or nothing.

Joints and bones are coloured by the network's confidence in them (`PersonPose.confidence`,
the heatmap maximum: the joint score before the box score weighs in, so a detector's modest box
score does not make a confident joint look doubtful), from red (0) through yellow (0.5) to green
(>= 1; a confident joint reaches about 0.9); joints below `min_score` are left out. Each
person's box and track id share a colour per track, so an identity switch shows as a colour
change. MPEG-4 video needs even frame sizes: odd ones get a black row or column added.
"""

from __future__ import annotations

import colorsys
import os
import shutil
import tempfile

import cv2
import numpy as np

from famipose_jax import errors
from famipose_jax.evaluation import visualize

FOURCC = 'mp4v'     # MPEG-4 part 2: every OpenCV build (the headless wheels too) writes it


def confidence_colour(score: float) -> tuple[int, int, int]:
  """BGR from red (0) through yellow (0.5) to green (1)."""
  s = float(np.clip(score, 0.0, 1.0))
  return (0, int(round(255 * min(1.0, 2 * s))), int(round(255 * min(1.0, 2 * (1 - s)))))


def track_colour(track_id: int | None) -> tuple[int, int, int]:
  """A distinct, stable BGR colour per track id (golden-ratio hues); white without one."""
  if track_id is None:
    return (255, 255, 255)
  hue = (int(track_id) * 0.618033988749895) % 1.0
  r, g, b = colorsys.hsv_to_rgb(hue, 0.65, 1.0)
  return (int(b * 255), int(g * 255), int(r * 255))


def _joint_confidence(pose) -> np.ndarray:
  confidence = getattr(pose, 'confidence', None)
  return np.asarray(pose.keypoints)[:, 2] if confidence is None else np.asarray(confidence)


def draw_poses(frame_bgr: np.ndarray, poses, *, min_score: float = 0.2) -> np.ndarray:
  """A copy of the frame with every pose, its box and its track id drawn.

  Args:
    frame_bgr: [H, W, 3] uint8 BGR.
    poses: PersonPose-like objects (.keypoints [17, 3], .box [4] x, y, w, h, .track_id, and
      .confidence [17], else the keypoints' scores are the confidence).
    min_score: joints less confident than this are not drawn.
  """
  canvas = frame_bgr.copy()
  thickness = max(1, int(round(canvas.shape[0] / 360)))
  for pose in poses:
    colour = track_colour(pose.track_id)
    x, y, w, h = (int(round(v)) for v in pose.box)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
    if pose.track_id is not None:
      cv2.putText(canvas, str(pose.track_id), (x + 2, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                  0.4 * thickness + 0.1, colour, thickness, cv2.LINE_AA)
    confidence = _joint_confidence(pose)
    visualize.draw_skeleton(canvas, np.asarray(pose.keypoints)[:, :2], confidence >= min_score,
                            [confidence_colour(c) for c in confidence], radius=thickness + 2,
                            thickness=thickness + 1)
  return canvas


def even_size(size: tuple[int, int]) -> tuple[int, int]:
  """The frame size an overlay video gets: (width, height) rounded up to even numbers."""
  return (int(size[0]) + int(size[0]) % 2, int(size[1]) + int(size[1]) % 2)


class OverlayVideo:
  """Writes frames to a video that appears at `path` only when `close()` finishes.

  Frames go to a hidden temporary file beside `path`; `close()` renames it into place,
  `discard()` (or leaving a `with` block by an exception) removes it, so an interrupted run
  never leaves a video that looks complete.
  """

  def __init__(self, path: str, fps: float, size: tuple[int, int]):
    self.path = os.path.abspath(path)
    folder = os.path.dirname(self.path)
    os.makedirs(folder, exist_ok=True)
    fd, self._tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path),
                                     suffix='.tmp' + os.path.splitext(path)[1])
    os.close(fd)
    self.frame_size = (int(size[0]), int(size[1]))
    self.size = even_size(self.frame_size)
    self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*FOURCC), float(fps),
                                   self.size)
    if not self._writer.isOpened():
      self.discard()
      raise OSError(f'{path}: OpenCV cannot write {FOURCC} video here')
    self.frames = 0

  def write(self, frame_bgr: np.ndarray):
    if frame_bgr.shape[1::-1] != self.frame_size:
      raise errors.InvalidInputError(
          f'{self.path}: frame {self.frames} is {frame_bgr.shape[1]}x'
          f'{frame_bgr.shape[0]}, the video\'s {self.frame_size[0]}x'
          f'{self.frame_size[1]}')
    pad_x, pad_y = self.size[0] - self.frame_size[0], self.size[1] - self.frame_size[1]
    if pad_x or pad_y:
      frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, pad_y, 0, pad_x, cv2.BORDER_CONSTANT, value=0)
    self._writer.write(frame_bgr)
    self.frames += 1

  def close(self):
    self._writer.release()
    os.replace(self._tmp, self.path)

  def discard(self):
    self._writer.release()
    if os.path.exists(self._tmp):
      os.remove(self._tmp)

  def __enter__(self):
    return self

  def __exit__(self, kind, value, traceback):
    if kind is None:
      self.close()
    else:
      self.discard()


class FrameImages:
  """Per-frame PNGs in a folder that appears at `folder` only when `close()` finishes."""

  def __init__(self, folder: str):
    self.folder = os.path.abspath(folder)
    parent = os.path.dirname(self.folder)
    os.makedirs(parent, exist_ok=True)
    if os.path.exists(self.folder):
      raise errors.RefusedOverwriteError(f'{self.folder} exists: refusing to overwrite it')
    self._tmp = tempfile.mkdtemp(dir=parent, prefix='.' + os.path.basename(self.folder),
                                 suffix='.tmp')
    self.frames = 0

  def write(self, frame_bgr: np.ndarray):
    """Adds the next frame, as <frame number>.png (000000.png first)."""
    path = os.path.join(self._tmp, f'{self.frames:06d}.png')
    if not cv2.imwrite(path, frame_bgr):
      raise OSError(f'{path}: OpenCV could not write the PNG')
    self.frames += 1

  def close(self):
    os.rename(self._tmp, self.folder)

  def discard(self):
    shutil.rmtree(self._tmp, ignore_errors=True)
