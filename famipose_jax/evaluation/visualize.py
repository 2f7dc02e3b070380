"""PNGs of predictions: skeletons drawn on video frames (predicted yellow, ground truth green)."""

from __future__ import annotations

import cv2
import numpy as np

from data_pipeline import atomic_files
from data_pipeline import joints as joint_layout

PREDICTION_COLOUR = (0, 255, 255)    # BGR yellow
TRUTH_COLOUR = (0, 200, 0)           # BGR green


def draw_skeleton(canvas: np.ndarray, points: np.ndarray, visible: np.ndarray, colour,
                  radius: int = 2, thickness: int = 1) -> np.ndarray:
  """Draws bones between visible joints and a dot per visible joint, in place.

  Args:
    canvas: [H, W, 3] uint8 BGR.
    points: [K, 2] x, y in canvas pixels.
    visible: [K] bool, which joints to draw.
    colour: one BGR colour, or [K] of them (a bone then takes the mean of its two joints').
  """
  points = np.round(np.asarray(points, np.float64)).astype(np.int64)
  colours = np.asarray(colour, np.float64)
  if colours.ndim == 1:
    colours = np.broadcast_to(colours, (len(points), 3))
  shade = lambda c: tuple(int(round(v)) for v in c)
  for a, b in joint_layout.SKELETON:
    if visible[a] and visible[b]:
      cv2.line(canvas, tuple(int(v) for v in points[a]), tuple(int(v) for v in points[b]),
               shade((colours[a] + colours[b]) / 2), thickness, cv2.LINE_AA)
  for k in np.flatnonzero(visible):
    cv2.circle(canvas, tuple(int(v) for v in points[k]), radius, shade(colours[k]), -1,
               cv2.LINE_AA)
  return canvas


def frame_panel(frames: list[np.ndarray], predictions: list[list], truth: list[list], *,
                score_threshold: float = 0.2, columns: int = 2,
                max_width: int = 640) -> np.ndarray:
  """Video frames with the predicted (yellow) and ground-truth (green) skeletons.

  Args:
    frames: [H, W, 3] uint8 BGR images (one size).
    predictions: per frame, [17, 3] arrays of image x, y and joint score; joints scoring below
      `score_threshold` are not drawn.
    truth: per frame, [17, 3] arrays of x, y, visibility (drawn where > 0).
    max_width: each frame is scaled to at most this width.

  Returns:
    [rows * h, columns * w, 3] uint8 BGR image.
  """
  height, width = frames[0].shape[:2]
  zoom = min(1.0, max_width / width)
  tile_h, tile_w = int(round(height * zoom)), int(round(width * zoom))
  columns = max(1, min(columns, len(frames)))
  rows = -(-len(frames) // columns)
  grid = np.zeros((rows * tile_h, columns * tile_w, 3), np.uint8)
  thickness = max(1, int(round(2 * zoom * height / 540)))
  for i, (frame, preds, gts) in enumerate(zip(frames, predictions, truth)):
    tile = cv2.resize(frame, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
    for keypoints in gts:
      draw_skeleton(tile, keypoints[:, :2] * zoom, keypoints[:, 2] > 0, TRUTH_COLOUR,
                    radius=thickness + 1, thickness=thickness)
    for keypoints in preds:
      draw_skeleton(tile, keypoints[:, :2] * zoom, keypoints[:, 2] >= score_threshold,
                    PREDICTION_COLOUR, radius=thickness + 1, thickness=thickness)
    r, c = divmod(i, columns)
    grid[r * tile_h:(r + 1) * tile_h, c * tile_w:(c + 1) * tile_w] = tile
  return grid


def write_png(path: str, image_bgr: np.ndarray) -> bytes:
  """Writes the PNG atomically (`atomic_files.write_bytes_atomic`); returns its bytes."""
  ok, encoded = cv2.imencode('.png', image_bgr)
  if not ok:
    raise RuntimeError(f'OpenCV could not encode the PNG for {path}')
  data = encoded.tobytes()
  atomic_files.write_bytes_atomic(path, data)
  return data
