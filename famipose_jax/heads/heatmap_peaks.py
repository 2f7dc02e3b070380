"""Heatmap peaks to sub-pixel joint positions: argmax, the published quarter step, DARK.

Published behaviour (HRNet / FAMI-Pose `get_final_preds`): argmax per joint, coordinates set to
(0, 0) where the maximum is <= 0, and a quarter-pixel step toward the larger neighbour when the
peak is at least two pixels inside the map; DARK (`dark_get_final_preds`) is the option. jnp
functions, jitted, so they run on the device inside the eval step; numpy inputs work too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# DARK takes log(max(blurred, floor)) so that empty regions stay finite.
_DARK_LOG_FLOOR = 1e-10


def _to_joint_major(heatmaps):
  """[B, h, w, K] -> [B, K, h, w]."""
  return jnp.transpose(jnp.asarray(heatmaps), (0, 3, 1, 2))


def _sample(maps, x, y):
  """maps[b, k, y[b, k], x[b, k]] for integer index arrays x, y of shape [B, K] (clipped)."""
  h, w = maps.shape[-2:]
  x = jnp.clip(x, 0, w - 1)
  y = jnp.clip(y, 0, h - 1)
  flat = maps.reshape(maps.shape[0], maps.shape[1], h * w)
  return jnp.take_along_axis(flat, (y * w + x)[..., None], axis=-1)[..., 0]


@jax.jit
def heatmap_maxima(heatmaps):
  """Integer argmax of every joint map.

  Args:
    heatmaps: [B, h, w, K].

  Returns:
    coords [B, K, 2] float32 (x, y) heatmap pixels, (0, 0) where the maximum is <= 0 (as
    published); maxvals [B, K] the maxima. Ties go to the first pixel in row-major order.
  """
  maps = _to_joint_major(heatmaps)
  batch, num_joints, h, w = maps.shape
  flat = maps.reshape(batch, num_joints, h * w)
  index = jnp.argmax(flat, axis=-1)
  maxvals = jnp.max(flat, axis=-1)
  coords = jnp.stack([index % w, index // w], axis=-1).astype(jnp.float32)
  coords = jnp.where((maxvals > 0)[..., None], coords, 0.0)
  return coords, maxvals


@jax.jit
def quarter_offset(heatmaps, coords, offset: float):
  """Step `offset` pixels toward the larger neighbour along x and y (HRNet post-processing).

  Applied only where the rounded peak satisfies 1 < px < w - 1 and 1 < py < h - 1, exactly
  the published condition (so a peak in the second column is not moved).

  Args:
    heatmaps: [B, h, w, K].
    coords: [B, K, 2] integer-valued peaks from `heatmap_maxima`.
    offset: the step in heatmap pixels (0.25 published).

  Returns:
    [B, K, 2] refined coordinates.
  """
  maps = _to_joint_major(heatmaps)
  h, w = maps.shape[-2:]
  px = jnp.floor(coords[..., 0] + 0.5).astype(jnp.int32)
  py = jnp.floor(coords[..., 1] + 0.5).astype(jnp.int32)
  inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
  diff = jnp.stack([_sample(maps, px + 1, py) - _sample(maps, px - 1, py),
                    _sample(maps, px, py + 1) - _sample(maps, px, py - 1)], axis=-1)
  step = jnp.sign(diff).astype(coords.dtype) * offset
  return jnp.where(inside[..., None], coords + step, coords)


def gaussian_kernel_1d(kernel_size: int) -> np.ndarray:
  """OpenCV's Gaussian for `sigma = 0` and an odd size > 7: sigma = 0.3((k-1)/2 - 1) + 0.8."""
  sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
  x = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2
  kernel = np.exp(-x * x / (2 * sigma * sigma))
  return kernel / kernel.sum()


def _blur_zero_padded(maps, kernel_size: int):
  """Separable Gaussian blur of [B, K, h, w] maps with zeros outside (DARK's padded blur)."""
  kernel = gaussian_kernel_1d(kernel_size)
  radius = kernel_size // 2
  h, w = maps.shape[-2:]
  padded = jnp.pad(maps, ((0, 0), (0, 0), (0, 0), (radius, radius)))
  maps = sum(float(kernel[i]) * padded[..., :, i:i + w] for i in range(kernel_size))
  padded = jnp.pad(maps, ((0, 0), (0, 0), (radius, radius), (0, 0)))
  return sum(float(kernel[i]) * padded[..., i:i + h, :] for i in range(kernel_size))


@functools.partial(jax.jit, static_argnames=('kernel_size',))
def dark_refine(heatmaps, coords, kernel_size: int):
  """DARK: blur, log, and one Newton (second-order Taylor) step from the integer peak.

  As published (DARK / FAMI-Pose `dark_get_final_preds`): each map is blurred with an
  OpenCV-style Gaussian (zero padding), rescaled to its original maximum, floored at 1e-10
  and logged; the step -H^-1 g uses central differences at the peak and is taken where
  1 < px < w - 2, 1 < py < h - 2 and det(H) != 0.

  Args:
    heatmaps: [B, h, w, K].
    coords: [B, K, 2] integer-valued peaks from `heatmap_maxima`.
    kernel_size: blur kernel size (11 published).

  Returns:
    [B, K, 2] refined coordinates.
  """
  maps = _to_joint_major(heatmaps).astype(jnp.float32)
  h, w = maps.shape[-2:]
  original_max = jnp.max(maps, axis=(-2, -1), keepdims=True)
  blurred = _blur_zero_padded(maps, kernel_size)
  blurred_max = jnp.max(blurred, axis=(-2, -1), keepdims=True)
  ratio = jnp.where(blurred_max != 0, original_max / jnp.where(blurred_max != 0, blurred_max, 1),
                    1.0)
  logmap = jnp.log(jnp.maximum(blurred * ratio, _DARK_LOG_FLOOR))

  px = coords[..., 0].astype(jnp.int32)
  py = coords[..., 1].astype(jnp.int32)
  at = lambda dx, dy: _sample(logmap, px + dx, py + dy)
  centre = at(0, 0)
  gx = 0.5 * (at(1, 0) - at(-1, 0))
  gy = 0.5 * (at(0, 1) - at(0, -1))
  gxx = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
  gyy = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
  gxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
  det = gxx * gyy - gxy * gxy
  valid = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2) & (det != 0)
  safe_det = jnp.where(valid, det, 1.0)
  step = jnp.stack([-(gyy * gx - gxy * gy) / safe_det,
                    -(gxx * gy - gxy * gx) / safe_det], axis=-1)
  return jnp.where(valid[..., None], coords + step, coords)


@functools.partial(jax.jit, static_argnames=('dark', 'dark_kernel_size'))
def decode_heatmaps(heatmaps, *, quarter_step: float, dark: bool, dark_kernel_size: int):
  """Joint coordinates in heatmap pixels and their maxima.

  Args:
    heatmaps: [B, h, w, K] (jnp or numpy).
    quarter_step: the published sub-pixel step (0.25); used when `dark` is False.
    dark: refine with DARK instead.
    dark_kernel_size: DARK's blur size (11).

  Returns:
    coords [B, K, 2] float32 heatmap pixels (x, y); maxvals [B, K].
  """
  coords, maxvals = heatmap_maxima(heatmaps)
  if dark:
    coords = dark_refine(heatmaps, coords, dark_kernel_size)
  else:
    coords = quarter_offset(heatmaps, coords, quarter_step)
  return coords, maxvals
