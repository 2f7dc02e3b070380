"""The HOG descriptor written directly, pixel by pixel as the definition reads: the reference that
`famipose_jax.inference.hog`'s faster, reorganised arithmetic is checked against.

This was the module's implementation before it was reorganised for speed: a [H, W, 9] vote array
scattered per pixel, then one 16-entry kernel per 8x8 tile. Its window scores matched OpenCV
4.14's to 1e-5.
"""

import functools

import cv2
import numpy as np

from famipose_jax.inference import hog

BINS, STRIDE, _BLOCK_SIGMA = hog.BINS, hog.STRIDE, 4.0


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
  return hog._l2hys(blocks)
