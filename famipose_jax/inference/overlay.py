"""Predicted poses drawn on their frames, and the overlay video written all or nothing.

Joints and bones are coloured by confidence, from red (score 0) through yellow to green
(score >= 1; the published joint score is a heatmap maximum times the box score, so a
confident joint scores about 0.9); joints below `min_score` are left out. Each person's box
and track id share a colour per track, so an identity switch shows as a colour change.
"""

from __future__ import annotations

import colorsys
import os
import shutil
import tempfile

import cv2
import numpy as np

from data_pipeline import joints as joint_layout

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


def draw_poses(frame_bgr: np.ndarray, poses, *, min_score: float = 0.2) -> np.ndarray:
  """A copy of the frame with every pose, its box and its track id drawn.

  Args:
    frame_bgr: [H, W, 3] uint8 BGR.
    poses: PersonPose-like objects (.keypoints [17, 3], .box [4] x, y, w, h, .track_id).
    min_score: joints scoring below it are not drawn.
  """
  canvas = frame_bgr.copy()
  height = canvas.shape[0]
  thickness = max(1, int(round(height / 360)))
  for pose in poses:
    colour = track_colour(pose.track_id)
    x, y, w, h = (int(round(v)) for v in pose.box)
    cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
    if pose.track_id is not None:
      cv2.putText(canvas, str(pose.track_id), (x + 2, max(y - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                  0.4 * thickness + 0.1, colour, thickness, cv2.LINE_AA)
    points = np.round(np.asarray(pose.keypoints)[:, :2]).astype(np.int64)
    scores = np.asarray(pose.keypoints)[:, 2]
    shown = scores >= min_score
    for a, b in joint_layout.SKELETON:
      if shown[a] and shown[b]:
        cv2.line(canvas, tuple(int(v) for v in points[a]), tuple(int(v) for v in points[b]),
                 confidence_colour((scores[a] + scores[b]) / 2), thickness + 1, cv2.LINE_AA)
    for k in np.flatnonzero(shown):
      cv2.circle(canvas, tuple(int(v) for v in points[k]), thickness + 2,
                 confidence_colour(scores[k]), -1, cv2.LINE_AA)
  return canvas


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
    self.size = (int(size[0]), int(size[1]))
    self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*FOURCC), float(fps),
                                   self.size)
    if not self._writer.isOpened():
      self.discard()
      raise OSError(f'{path}: OpenCV cannot write {FOURCC} video here')
    self.frames = 0

  def write(self, frame_bgr: np.ndarray):
    if frame_bgr.shape[1::-1] != self.size:
      raise ValueError(f'{self.path}: frame {self.frames} is {frame_bgr.shape[1]}x'
                       f'{frame_bgr.shape[0]}, the video {self.size[0]}x{self.size[1]}')
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
      raise FileExistsError(f'{self.folder} exists: refusing to overwrite it')
    self._tmp = tempfile.mkdtemp(dir=parent, prefix='.' + os.path.basename(self.folder),
                                 suffix='.tmp')

  def write(self, index: int, frame_bgr: np.ndarray):
    path = os.path.join(self._tmp, f'{index:06d}.png')
    if not cv2.imwrite(path, frame_bgr):
      raise OSError(f'{path}: OpenCV could not write the PNG')

  def close(self):
    os.rename(self._tmp, self.folder)

  def discard(self):
    shutil.rmtree(self._tmp, ignore_errors=True)
