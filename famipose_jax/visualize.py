"""A PNG grid of model inputs with the predicted (and ground-truth) skeletons drawn on them."""

from __future__ import annotations

import os

import cv2
import numpy as np

from data_pipeline import joints as joint_layout

PREDICTION_COLOUR = (0, 255, 255)    # BGR yellow
TRUTH_COLOUR = (0, 200, 0)           # BGR green


def unnormalise(image: np.ndarray, mean, std) -> np.ndarray:
  """[H, W, 3] normalised RGB float -> [H, W, 3] uint8 BGR for OpenCV."""
  rgb = image * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
  return np.ascontiguousarray(np.clip(rgb * 255.0, 0, 255).astype(np.uint8)[..., ::-1])


def draw_skeleton(canvas: np.ndarray, points: np.ndarray, visible: np.ndarray, colour,
                  radius: int = 2, thickness: int = 1) -> np.ndarray:
  """Draws bones between visible joints and a dot per visible joint, in place.

  Args:
    canvas: [H, W, 3] uint8 BGR.
    points: [K, 2] x, y in canvas pixels.
    visible: [K] bool, which joints to draw.
  """
  points = np.round(np.asarray(points, np.float64)).astype(np.int64)
  for a, b in joint_layout.SKELETON:
    if visible[a] and visible[b]:
      cv2.line(canvas, tuple(int(v) for v in points[a]), tuple(int(v) for v in points[b]), colour,
               thickness, cv2.LINE_AA)
  for k in np.flatnonzero(visible):
    cv2.circle(canvas, tuple(int(v) for v in points[k]), radius, colour, -1, cv2.LINE_AA)
  return canvas


def prediction_grid(images: np.ndarray, predictions: np.ndarray, scores: np.ndarray,
                    truth: np.ndarray | None, *, mean, std, score_threshold: float = 0.2,
                    columns: int = 4, upscale: int = 2) -> np.ndarray:
  """A grid of crops with predictions (yellow) and visible ground truth (green).

  Args:
    images: [S, H, W, 3] normalised RGB crops (model inputs).
    predictions: [S, K, 2] predicted joints in crop pixels.
    scores: [S, K] joint confidences; joints below `score_threshold` are not drawn.
    truth: [S, K, 3] ground-truth (x, y, visible) in crop pixels, or None.
    upscale: integer zoom so that tiny CPU-demo crops stay legible.

  Returns:
    [rows * H * upscale, columns * W * upscale, 3] uint8 BGR image.
  """
  count = images.shape[0]
  columns = max(1, min(columns, count))
  rows = -(-count // columns)
  height, width = images.shape[1] * upscale, images.shape[2] * upscale
  grid = np.zeros((rows * height, columns * width, 3), np.uint8)
  for i in range(count):
    tile = unnormalise(images[i], mean, std)
    tile = cv2.resize(tile, (width, height), interpolation=cv2.INTER_NEAREST)
    if truth is not None:
      draw_skeleton(tile, truth[i, :, :2] * upscale, truth[i, :, 2] > 0, TRUTH_COLOUR)
    draw_skeleton(tile, predictions[i] * upscale, scores[i] >= score_threshold, PREDICTION_COLOUR)
    r, c = divmod(i, columns)
    grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = tile
  return grid


def write_png(path: str, image_bgr: np.ndarray) -> bytes:
  """Writes the PNG atomically (temporary file + os.replace); returns its bytes."""
  ok, encoded = cv2.imencode('.png', image_bgr)
  if not ok:
    raise RuntimeError(f'OpenCV could not encode the PNG for {path}')
  data = encoded.tobytes()
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  tmp = os.path.join(folder, f'.{os.path.basename(path)}.tmp.{os.getpid()}')
  with open(tmp, 'wb') as f:
    f.write(data)
  os.replace(tmp, path)
  return data
