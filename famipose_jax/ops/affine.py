"""Affine warps: torch's affine_grid and kornia's warp_affine, in NHWC.

FAMI-Pose's global transformation builds a pixel-space source->destination matrix
theta = [[1, 0, tx], [0, 1, ty]] and calls `kornia.geometry.warp_affine(feat, theta, dsize)`.
Kornia turns the pixel matrix into a normalised one with N(size) = [[2/(W-1), 0, -1],
[0, 2/(H-1), -1]] on both sides (always the align_corners=True normalisation), inverts it, and
samples with `affine_grid` + `grid_sample` under the caller's align_corners. Written out in
pixels, the destination pixel p reads the source at

  align_corners=True:   src = M^-1 p                       (content moves by +t exactly)
  align_corners=False:  src = S_src(M^-1 R_dst(p)),  R(p) = (p + 1/2) (n - 1) / n,
                                                     S(q) = q n / (n - 1) - 1/2,

per axis with n the axis length, so a translation t moves content by t n / (n - 1) (1.25 px for
t = 1 on width 5; tests/test_ops_affine.py checks both on a ramp). `warp_affine` computes these
positions in closed form (no 3x3 normalise-invert-denormalise round trip) and samples with zero
padding.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from famipose_jax.ops import bilinear


def _base_coords(size: int, align_corners: bool, dtype) -> jax.Array:
  """torch's affine_grid base coordinates along one axis, [size] in [-1, 1]."""
  if size == 1:
    return jnp.zeros((1,), dtype)
  i = jnp.arange(size, dtype=dtype)
  if align_corners:
    return 2 * i / (size - 1) - 1
  return (2 * i + 1) / size - 1


def _apply(matrix: jax.Array, x: jax.Array, y: jax.Array):
  """Applies [B, 2, 3] to broadcastable x [1, Ho, Wo]-like and y; returns (x', y') [B, ...]."""
  m = matrix[:, :, :, None, None]
  return (m[:, 0, 0] * x + m[:, 0, 1] * y + m[:, 0, 2],
          m[:, 1, 0] * x + m[:, 1, 1] * y + m[:, 1, 2])


def _check_matrix(matrix: jax.Array, name: str, fn: str):
  if matrix.ndim != 3 or matrix.shape[1:] != (2, 3):
    raise ValueError(f'{fn}: {name} must be [B, 2, 3], got shape {matrix.shape}')


def affine_grid(theta: jax.Array, size: Sequence[int], align_corners: bool) -> jax.Array:
  """torch.nn.functional.affine_grid for 2-D, returned NHWC.

  Args:
    theta: [B, 2, 3] normalised destination->source matrix (x, y order).
    size: (Ho, Wo) of the output grid.
    align_corners: torch's flag.

  Returns:
    grid [B, Ho, Wo, 2] of (x, y) in normalised coordinates, for `bilinear.grid_sample`.
  """
  _check_matrix(theta, 'theta', 'affine_grid')
  ho, wo = (int(s) for s in size)
  dtype = bilinear.coordinate_dtype(theta.dtype)
  x = _base_coords(wo, align_corners, dtype)[None, None, :]
  y = _base_coords(ho, align_corners, dtype)[None, :, None]
  gx, gy = _apply(theta.astype(dtype), x, y)
  return jnp.stack([gx, gy], axis=-1)


def invert_affine(matrix: jax.Array) -> jax.Array:
  """Inverse of [..., 2, 3] affine maps (as 3x3 homogeneous matrices), [..., 2, 3]."""
  a, b, tx = matrix[..., 0, 0], matrix[..., 0, 1], matrix[..., 0, 2]
  c, d, ty = matrix[..., 1, 0], matrix[..., 1, 1], matrix[..., 1, 2]
  det = a * d - b * c
  ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
  itx = -(ia * tx + ib * ty)
  ity = -(ic * tx + id_ * ty)
  return jnp.stack([jnp.stack([ia, ib, itx], -1), jnp.stack([ic, id_, ity], -1)], -2)


def translation_matrix(translation: jax.Array) -> jax.Array:
  """[..., 2] translations (tx, ty) -> [..., 2, 3] matrices [[1, 0, tx], [0, 1, ty]]."""
  tx, ty = translation[..., 0], translation[..., 1]
  one = jnp.ones_like(tx)
  zero = jnp.zeros_like(tx)
  return jnp.stack([jnp.stack([one, zero, tx], -1), jnp.stack([zero, one, ty], -1)], -2)


def warp_affine(image: jax.Array, matrix: jax.Array, align_corners: bool,
                output_size: Sequence[int] | None = None) -> jax.Array:
  """kornia.geometry.warp_affine(mode='bilinear', padding_mode='zeros') in NHWC.

  Args:
    image: [B, H, W, C].
    matrix: [B, 2, 3] pixel-space source->destination affine (x, y order).
    align_corners: kornia's flag (True from kornia 0.5; False in 0.3-0.4).
    output_size: (Ho, Wo); defaults to (H, W).

  Returns:
    [B, Ho, Wo, C] in image.dtype: out(p) = image(source position of p), bilinear, 0 outside.
  """
  if image.ndim != 4:
    raise ValueError(f'warp_affine: image must be [B, H, W, C], got shape {image.shape}')
  _check_matrix(matrix, 'matrix', 'warp_affine')
  if matrix.shape[0] != image.shape[0]:
    raise ValueError(f'warp_affine: matrix batch {matrix.shape[0]} != image batch '
                     f'{image.shape[0]} (matrix {matrix.shape}, image {image.shape})')
  _, h, w, _ = image.shape
  ho, wo = (h, w) if output_size is None else (int(s) for s in output_size)
  if not align_corners and 1 in (h, w, ho, wo):
    # Kornia normalises with 2 / (n - 1): undefined for a single row or column.
    raise ValueError('warp_affine: align_corners=False needs every side > 1, got image '
                     f'{image.shape} and output_size {(ho, wo)}')
  dtype = bilinear.coordinate_dtype(matrix.dtype)
  x = jnp.arange(wo, dtype=dtype)[None, None, :]
  y = jnp.arange(ho, dtype=dtype)[None, :, None]
  if not align_corners:
    x = (x + 0.5) * (wo - 1) / wo
    y = (y + 0.5) * (ho - 1) / ho
  sx, sy = _apply(invert_affine(matrix.astype(dtype)), x, y)
  if not align_corners:
    sx = sx * w / (w - 1) - 0.5
    sy = sy * h / (h - 1) - 0.5
  return bilinear.bilinear_sample(image, sy, sx)
