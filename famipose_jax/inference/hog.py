"""HOG features and the linear people SVM of Dalal & Triggs, in numpy.

OpenCV 5 no longer has `cv2.HOGDescriptor`, so this module computes the descriptor of OpenCV 4's
default one, on which OpenCV's people SVM (`HOGDescriptor_getDefaultPeopleDetector`, trained on
the INRIA person set) was fitted: a 64x128 window, 16x16-pixel blocks every 8 pixels, 2x2 cells of
8x8 pixels per block, 9 unsigned orientation bins over 0..180 degrees, square-root gamma, [-1, 0, 1]
gradients taken on the colour channel with the largest one, votes split between the two nearest
orientation bins and (bilinearly) the nearest cells, weighted by a Gaussian of sigma 4 around the
block centre, and L2-Hys block normalisation (clip at 0.2). `hog_people_svm.npy` holds that SVM's
3781 coefficients as OpenCV 4.14 (Apache-2.0) returns them: 3780 weights in OpenCV's descriptor
order, then the bias. On the same image, this module's window scores and OpenCV 4.14's agree
to 1e-5.

Shapes: an image [H, W, 3] uint8 BGR (or [H, W]); blocks [H // 8 - 1, W // 8 - 1, 36];
window scores [(H - 128) // 8 + 1, (W - 64) // 8 + 1].
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

WINDOW_WIDTH, WINDOW_HEIGHT = 64, 128
STRIDE = 8                 # cell size, block stride and window stride
BINS = 9
_BLOCKS_PER_WINDOW = (WINDOW_HEIGHT // STRIDE - 1, WINDOW_WIDTH // STRIDE - 1)   # (15, 7)
_BLOCK_SIGMA = 4.0
_L2HYS_CLIP = 0.2


@functools.cache
def people_svm() -> tuple[np.ndarray, float]:
  """The SVM as ([15, 7, 36] weights per block row, column and histogram entry, bias)."""
  coefficients = np.load(os.path.join(os.path.dirname(__file__), 'hog_people_svm.npy'))
  rows, cols = _BLOCKS_PER_WINDOW
  # OpenCV orders a window's blocks column by column.
  weights = coefficients[:-1].reshape(cols, rows, 4 * BINS).transpose(1, 0, 2)
  return np.ascontiguousarray(weights, np.float32), float(coefficients[-1])


def orientation_votes(image: np.ndarray) -> np.ndarray:
  """Each pixel's gradient magnitude split between its two nearest orientation bins.

  Args:
    image: [H, W, 3] or [H, W] uint8.

  Returns:
    [H, W, 9] float32.
  """
  channels = np.sqrt(np.atleast_3d(image).astype(np.float32))
  kernel = np.array([[-1, 0, 1]], np.float32)
  # OpenCV's default border (reflect without repeating the edge pixel), as its HOG uses.
  dx = cv2.filter2D(channels, -1, kernel).reshape(channels.shape)
  dy = cv2.filter2D(channels, -1, kernel.T).reshape(channels.shape)
  strongest = np.argmax(dx * dx + dy * dy, axis=-1)[..., None]
  dx = np.take_along_axis(dx, strongest, -1)[..., 0]
  dy = np.take_along_axis(dy, strongest, -1)[..., 0]
  # cv2's fast arctangent, as OpenCV's HOG: with it the window scores match OpenCV's to 1e-5.
  magnitude, angle = cv2.cartToPolar(dx, dy)         # angle in [0, 2 pi)
  position = angle * np.float32(BINS / np.pi) - np.float32(0.5)   # bin centres 10, 30, .. deg
  lower = np.floor(position)
  upper_share = position - lower
  lower = lower.astype(np.int64).ravel() % BINS      # orientation is unsigned: mod 180 deg
  upper = lower + 1
  upper[upper == BINS] = 0
  votes = np.zeros(lower.size * BINS, np.float32)
  first = np.arange(0, votes.size, BINS)              # flat indices: faster than 2-D ones
  votes[first + lower] = (magnitude * (1 - upper_share)).ravel()
  votes[first + upper] = (magnitude * upper_share).ravel()
  return votes.reshape(image.shape[:2] + (BINS,))


@functools.cache
def _block_kernels() -> np.ndarray:
  """[2, 2, 4, 64]: per block quadrant (row, col), the weight of its 8x8 pixels in each cell.

  The cell index is col * 2 + row, OpenCV's order of a block's histograms.
  """
  size = 2 * STRIDE
  offsets = np.arange(size) - size / 2
  gauss = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * _BLOCK_SIGMA ** 2))
  centres = (np.arange(size) + 0.5) / STRIDE - 0.5     # pixel position in cell units
  tent = np.clip(1 - np.abs(centres[:, None] - np.arange(2)[None, :]), 0, None)   # [16, 2]
  weights = np.einsum('yx,yr,xc->crxy', gauss, tent, tent)       # [col cell, row cell, x, y]
  weights = weights.reshape(4, size, size).transpose(0, 2, 1)    # [cell, y, x]
  quads = weights.reshape(4, 2, STRIDE, 2, STRIDE).transpose(1, 3, 0, 2, 4)
  return quads.reshape(2, 2, 4, STRIDE * STRIDE).astype(np.float32)


def block_descriptors(image: np.ndarray) -> np.ndarray:
  """L2-Hys-normalised 36-bin histograms of the 16x16 blocks on the 8-pixel grid.

  Args:
    image: [H, W, 3] or [H, W] uint8, at least 16x16.

  Returns:
    [H // 8 - 1, W // 8 - 1, 36]: block (i, j) covers rows 8i..8i+15 and columns 8j..8j+15;
    entries are cell (col * 2 + row) * 9 + orientation bin.
  """
  votes = orientation_votes(image)
  tiles_y, tiles_x = votes.shape[0] // STRIDE, votes.shape[1] // STRIDE
  tiles = votes[:tiles_y * STRIDE, :tiles_x * STRIDE]
  tiles = tiles.reshape(tiles_y, STRIDE, tiles_x, STRIDE, BINS).transpose(0, 2, 4, 1, 3)
  tiles = tiles.reshape(tiles_y * tiles_x * BINS, STRIDE * STRIDE)
  # Every 8x8 tile is one quadrant of up to four blocks: weigh it once for each quadrant it
  # can be, then sum each block's four quadrants. (2-D matmuls: numpy's stacked ones are slow.)
  quadrants = tiles @ _block_kernels().reshape(16, -1).T          # [tile * bin, quad * cell]
  quadrants = quadrants.reshape(tiles_y, tiles_x, BINS, 2, 2, 4)
  blocks = 0
  for qy in range(2):
    for qx in range(2):
      blocks = blocks + quadrants[qy:tiles_y - 1 + qy, qx:tiles_x - 1 + qx, :, qy, qx]
  blocks = np.swapaxes(blocks, -1, -2).reshape(tiles_y - 1, tiles_x - 1, 4 * BINS)
  return _l2hys(blocks)


def _l2hys(blocks: np.ndarray) -> np.ndarray:
  # OpenCV's epsilon: 0.1 per histogram entry on the first norm, 1e-3 on the second.
  norm = np.sqrt(np.sum(blocks * blocks, axis=-1, keepdims=True))
  clipped = np.minimum(blocks / (norm + 0.1 * blocks.shape[-1]), _L2HYS_CLIP)
  norm = np.sqrt(np.sum(clipped * clipped, axis=-1, keepdims=True))
  return clipped / (norm + 1e-3)


def window_scores(image: np.ndarray) -> np.ndarray:
  """The people SVM's decision value for every 64x128 window on the 8-pixel grid.

  Returns:
    [(H - 128) // 8 + 1, (W - 64) // 8 + 1] float32: entry (i, j) scores the window with
    top-left corner (x, y) = (8j, 8i); positive means a person. Empty when the image is
    smaller than the window.
  """
  height, width = image.shape[:2]
  if height < WINDOW_HEIGHT or width < WINDOW_WIDTH:
    return np.zeros((0, 0), np.float32)
  weights, bias = people_svm()
  rows, cols = _BLOCKS_PER_WINDOW
  blocks = block_descriptors(image)
  # Each block's dot product with the weights of every position it can take in a window.
  per_position = blocks.reshape(-1, blocks.shape[-1]) @ weights.reshape(rows * cols, -1).T
  per_position = per_position.reshape(blocks.shape[:2] + (rows, cols))
  out_y, out_x = blocks.shape[0] - rows + 1, blocks.shape[1] - cols + 1
  scores = np.full((out_y, out_x), bias, np.float32)
  for r in range(rows):
    for c in range(cols):
      scores += per_position[r:r + out_y, c:c + out_x, r, c]
  return scores
