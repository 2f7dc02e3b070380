"""Bilinear sampling with zero padding, by row gathers of the four neighbours.

Coordinates are pixel indices: (0, 0) is the centre of the top-left pixel. A sample takes the
four pixels around it; a neighbour outside the image contributes 0 (weight 0), so samples fade
to 0 over the last pixel beyond the border, as torch's `grid_sample(padding_mode='zeros')`
does. The image is flattened over space once and each sample's four neighbours are gathered
as rows of it, one gather per corner, blended as they arrive.

Corner weights are computed in at least float32 whatever the image dtype (bfloat16 weights
would move samples by up to 1/256 px); the weighted sum is accumulated in float32 and cast back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def coordinate_dtype(*dtypes) -> jnp.dtype:
  """The dtype coordinates and corner weights are computed in: float32 or wider."""
  return jnp.result_type(jnp.float32, *dtypes)


def corner_indices_and_weights(y: jax.Array, x: jax.Array, height: int, width: int):
  """Flat indices and bilinear weights of the four neighbours of each sample.

  Args:
    y, x: [...] sample positions in pixels (rows, columns), any float dtype.
    height, width: the image size.

  Returns:
    (indices, weights), each a list of four [...] arrays in corner order (top-left, top-right,
    bottom-left, bottom-right): int32 indices into the image flattened as row * width + column
    (corners that fall outside the image are clamped to a valid index and get weight 0), and
    weights in `coordinate_dtype(y, x)`. Separate arrays rather than a stacked [..., 4] one:
    XLA:CPU computes a minor axis of 4 several times slower.
  """
  dtype = coordinate_dtype(y.dtype, x.dtype)
  # Far-away samples are 0 anyway; clamping keeps the int32 cast safe and the gradient 0.
  y = jnp.clip(y.astype(dtype), -2.0, height + 1.0)
  x = jnp.clip(x.astype(dtype), -2.0, width + 1.0)
  y0 = jnp.floor(y)
  x0 = jnp.floor(x)
  ly = y - y0
  lx = x - x0
  y0 = y0.astype(jnp.int32)
  x0 = x0.astype(jnp.int32)
  indices, weights = [], []
  for row, col, weight in ((y0, x0, (1 - ly) * (1 - lx)), (y0, x0 + 1, (1 - ly) * lx),
                           (y0 + 1, x0, ly * (1 - lx)), (y0 + 1, x0 + 1, ly * lx)):
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    weights.append(jnp.where(inside, weight, jnp.zeros_like(weight)))
    indices.append(jnp.clip(row, 0, height - 1) * width + jnp.clip(col, 0, width - 1))
  return indices, weights


def blend_corners(table: jax.Array, indices, weights, dtype) -> jax.Array:
  """Bilinear blend of gathered rows: sum over the 4 corners of weight * table row.

  Args:
    table: [B, N, C] rows (per example).
    indices: four [B, ...] int row indices into each example's table (in range).
    weights: four [B, ...] corner weights.
    dtype: the result dtype.

  Returns:
    [B, ..., C]: sum_i weights[i] * table[b, indices[i]], accumulated in the promoted dtype of
    table and weights, corners added in order 0..3.
  """
  batch = table.shape[0]
  acc = jnp.result_type(table.dtype, weights[0].dtype)
  out = None
  # One gather per corner: XLA:CPU gathers [B, ..., C] rows 4x faster than one packed
  # [B, ..., 4, C] gather (jax 0.10; same values). Explicit terms rather than a sum over a
  # corner axis, also because XLA:CPU segfaulted on a gather fused into that reduce at C == 1.
  for index, weight in zip(indices, weights):
    rows = jax.vmap(lambda t, j: jnp.take(t, j, axis=0, mode='clip'))(
        table, index.reshape(batch, -1))
    term = (rows.reshape(index.shape + table.shape[-1:]).astype(acc)
            * weight[..., None].astype(acc))
    out = term if out is None else out + term
  return out.astype(dtype)


def bilinear_sample(image: jax.Array, y: jax.Array, x: jax.Array) -> jax.Array:
  """Samples `image` bilinearly at pixel positions, zero outside.

  Args:
    image: [B, H, W, C].
    y, x: [B, ...] row and column positions in pixels (same shape).

  Returns:
    [B, ..., C] in image.dtype. Memory: four gathers of B * prod(...) * C elements (XLA
    usually fuses them into the weighted sum), plus 4 int32 indices and 4 weights per sample.
  """
  if image.ndim != 4:
    raise ValueError(f'bilinear_sample: image must be [B, H, W, C], got shape {image.shape}')
  if y.shape != x.shape or y.shape[:1] != image.shape[:1]:
    raise ValueError('bilinear_sample: y and x must both be [B, ...] with the image batch; got '
                     f'image {image.shape}, y {y.shape}, x {x.shape}')
  b, h, w, c = image.shape
  indices, weights = corner_indices_and_weights(y, x, h, w)
  return blend_corners(image.reshape(b, h * w, c), indices, weights, image.dtype)


def unnormalize(coord: jax.Array, size: int, align_corners: bool) -> jax.Array:
  """Maps a [-1, 1] coordinate to pixels as torch's grid_sample does."""
  if align_corners:
    return (coord + 1) * 0.5 * (size - 1)
  return ((coord + 1) * size - 1) * 0.5


def grid_sample(image: jax.Array, grid: jax.Array, align_corners: bool) -> jax.Array:
  """torch.nn.functional.grid_sample(mode='bilinear', padding_mode='zeros') in NHWC.

  Args:
    image: [B, H, W, C].
    grid: [B, Ho, Wo, 2], (x, y) in [-1, 1]; -1 and 1 are the centres of the border pixels
      when align_corners, their outer edges otherwise.
    align_corners: torch's flag.

  Returns:
    [B, Ho, Wo, C] in image.dtype.
  """
  if grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != image.shape[0]:
    raise ValueError('grid_sample: grid must be [B, Ho, Wo, 2] with the image batch; got grid '
                     f'{grid.shape}, image {image.shape}')
  _, h, w, _ = image.shape
  dtype = coordinate_dtype(grid.dtype)
  x = unnormalize(grid[..., 0].astype(dtype), w, align_corners)
  y = unnormalize(grid[..., 1].astype(dtype), h, align_corners)
  return bilinear_sample(image, y, x)

