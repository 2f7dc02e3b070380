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

The arithmetic is arranged for speed, not read off the definition (tests/hog_reference.py is
the direct version, checked to 2e-6): the image is taken in strips of tile rows whose
intermediates stay in the CPU's cache, the elementwise steps run in OpenCV's kernels, votes
go into one plane per orientation bin, and the Gaussian-and-bilinear block weights, which
separate into a row factor and a column factor, are two small matrix products.

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


@functools.cache
def _sqrt_table() -> np.ndarray:
  """[1, 256] float32: the square-root gamma of every uint8 value (a lookup beats sqrt)."""
  return np.sqrt(np.arange(256, dtype=np.float32)).reshape(1, 256)


def gradient_orientations(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Each pixel's gradient magnitude, lower orientation bin and share of the upper bin.

  A pixel votes magnitude * (1 - share) for bin `lower` and magnitude * share for bin
  (lower + 1) % 9: the two nearest bin centres (10, 30, .. 170 degrees). The arithmetic runs in
  OpenCV's kernels, plane by plane: on whole frames numpy's temporaries cost more than the
  arithmetic.

  Args:
    image: [H, W, 3] or [H, W] uint8.

  Returns:
    magnitude [H, W] float32, lower [H, W] uint8 in 0..8, share [H, W] float32 in [0, 1).
  """
  kernel = np.array([[-1, 0, 1]], np.float32)
  best_x = best_y = best = None
  for plane in cv2.split(image) if image.ndim == 3 else [image]:
    gamma = cv2.LUT(plane, _sqrt_table())
    # OpenCV's default border (reflect without repeating the edge pixel), as its HOG uses.
    dx, dy = cv2.filter2D(gamma, -1, kernel), cv2.filter2D(gamma, -1, kernel.T)
    square = cv2.add(cv2.multiply(dx, dx), cv2.multiply(dy, dy))
    if best is None:
      best_x, best_y, best = dx, dy, square
    else:   # the channel with the largest squared gradient; ties go to the first, as OpenCV's
      better = cv2.compare(square, best, cv2.CMP_GT)
      for source, target in ((dx, best_x), (dy, best_y), (square, best)):
        cv2.copyTo(source, better, target)
  # cv2's fast arctangent, as OpenCV's HOG: with it the window scores match OpenCV's to 1e-5.
  magnitude, angle = cv2.cartToPolar(best_x, best_y)   # angle in [0, 2 pi)
  # Bin centres at 10, 30, .. 170 degrees: the position in bins is angle / 20 deg - 1/2, here
  # plus 1 so that it is positive and truncation floors it.
  position = angle * np.float32(BINS / np.pi)
  position += np.float32(0.5)
  above = position.astype(np.uint8)                   # floor(angle / 20 deg - 1/2) + 1
  share = position - above
  return magnitude, cv2.LUT(above, _lower_bin_table()), share


@functools.cache
def _lower_bin_table() -> np.ndarray:
  """[1, 256] uint8: the lower bin of floor(position) + 1; orientation is unsigned (mod 180)."""
  return ((np.arange(256) - 1) % BINS).astype(np.uint8).reshape(1, 256)


@functools.cache
def _axis_weights() -> np.ndarray:
  """[8, 4]: along one axis of a block, the weight of a tile's 8 pixels in each (quadrant,
  cell) of that axis: the Gaussian of sigma 4 around the block centre times the bilinear tent
  of the cell. A block's weight for pixel (y, x) and cell (row, col) is the product of the two
  axes' weights (both factors separate), which is why the 16x16 weights need no 2-D kernel.
  """
  size = 2 * STRIDE
  offsets = np.arange(size) - size / 2
  gauss = np.exp(-offsets ** 2 / (2 * _BLOCK_SIGMA ** 2))
  centres = (np.arange(size) + 0.5) / STRIDE - 0.5     # pixel position in cell units
  tent = np.clip(1 - np.abs(centres[:, None] - np.arange(2)[None, :]), 0, None)   # [16, 2]
  weights = (gauss[:, None] * tent).reshape(2, STRIDE, 2)           # [quadrant, pixel, cell]
  return weights.transpose(1, 0, 2).reshape(STRIDE, 4).astype(np.float32)


def block_descriptors(image: np.ndarray, strip_tiles: int = 8) -> np.ndarray:
  """L2-Hys-normalised 36-bin histograms of the 16x16 blocks on the 8-pixel grid.

  Args:
    image: [H, W, 3] or [H, W] uint8, at least 16x16.
    strip_tiles: tile rows computed at a time; a strip's intermediates stay in the CPU's cache,
      a whole frame's would not (the result does not depend on it).

  Returns:
    [H // 8 - 1, W // 8 - 1, 36]: block (i, j) covers rows 8i..8i+15 and columns 8j..8j+15;
    entries are cell (col * 2 + row) * 9 + orientation bin.
  """
  tiles_y, tiles_x = image.shape[0] // STRIDE, image.shape[1] // STRIDE
  # One row more above and below: a strip's gradients need its neighbours' rows (reflected at
  # the image's top and bottom, OpenCV's default border).
  padded = cv2.copyMakeBorder(image, 1, 1, 0, 0, cv2.BORDER_REFLECT_101)
  quadrants = np.empty((BINS, tiles_y, 4, tiles_x * 4), np.float32)
  for first in range(0, tiles_y, strip_tiles):
    last = min(first + strip_tiles, tiles_y)
    strip = padded[first * STRIDE:last * STRIDE + 2]
    quadrants[:, first:last] = _strip_quadrants(strip, tiles_x)
  quadrants = quadrants.reshape(BINS, tiles_y, 2, 2, tiles_x, 2, 2)
  # -> [tile y, tile x, qy, qx, col, row, bin]: contiguous for the shifted sums below.
  quadrants = np.ascontiguousarray(quadrants.transpose(1, 4, 2, 5, 6, 3, 0))
  blocks = 0
  for qy in range(2):
    for qx in range(2):
      blocks = blocks + quadrants[qy:tiles_y - 1 + qy, qx:tiles_x - 1 + qx, qy, qx]
  return _l2hys(blocks.reshape(tiles_y - 1, tiles_x - 1, 4 * BINS))


def _strip_quadrants(strip: np.ndarray, tiles_x: int) -> np.ndarray:
  """[9, tile rows, (qy, row), tile x * (qx, col)]: every tile of a strip weighed once for each
  (quadrant, cell) of a block it can be.

  `strip` is a band of whole tile rows with one image row more above and below.
  """
  # cv2 takes the row-strided views as they are.
  magnitude, lower, share = (a[1:-1, :tiles_x * STRIDE] for a in gradient_orientations(strip))
  rows, width = magnitude.shape
  # The votes, one plane per orientation bin: each pixel votes for its two bins (masked
  # copies in OpenCV: a fraction of numpy's scatter).
  upper_vote = cv2.multiply(magnitude, share)
  lower_vote = cv2.subtract(magnitude, upper_vote)
  votes = np.zeros((BINS, rows, width), np.float32)
  # Bin b takes the lower votes of the pixels whose lower bin is b, and the upper votes of
  # those whose lower bin is b - 1: each mask serves two bins.
  lower_is = [cv2.compare(lower, b, cv2.CMP_EQ) for b in range(BINS)]
  for b in range(BINS):
    cv2.copyTo(lower_vote, lower_is[b], votes[b])
    cv2.add(votes[b], upper_vote, votes[b], mask=lower_is[b - 1])
  # Weigh each tile's columns, then its rows (the block weights separate).
  weights = _axis_weights()
  columns = votes.reshape(-1, STRIDE) @ weights                # [bin, y, tile x, (qx, col)]
  columns = columns.reshape(BINS, rows // STRIDE, STRIDE, tiles_x * 4)
  return np.matmul(weights.T, columns)


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
