"""From model outputs to joint coordinates and scores in the original image.

The per-batch work (argmax, sub-pixel refinement, SimCC argmax, flip fusion) is jnp and runs
inside `jax.jit` on the device, so only [B, K, 2] coordinates and [B, K] maxima travel to the
host; numpy inputs work too. The host then maps crop coordinates back into the image through
the inverse of the same crop affine the data pipeline used (`data_pipeline.crop_affine`).

Published behaviour (HRNet / FAMI-Pose `get_final_preds`): argmax per joint, coordinates set to
(0, 0) where the maximum is <= 0, a quarter-pixel step toward the larger neighbour when the
peak is at least two pixels inside the map, no DARK, no flip test, and joint score =
heatmap maximum x box score.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from data_pipeline import crop_affine as crop_affine_lib
from famipose_jax import config_schema

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


@jax.jit
def decode_simcc(simcc_x, simcc_y, *, split_ratio: float):
  """SimCC: argmax of each 1-D classifier, divided by the split ratio.

  Args:
    simcc_x: [B, K, round(W k)] logits over horizontal bins.
    simcc_y: [B, K, round(H k)] logits over vertical bins.
    split_ratio: k, bins per input pixel.

  Returns:
    coords [B, K, 2] float32 input-crop pixels (x, y); scores [B, K] = min of the two
    softmax maxima.
  """
  px = jax.nn.softmax(jnp.asarray(simcc_x, jnp.float32), axis=-1)
  py = jax.nn.softmax(jnp.asarray(simcc_y, jnp.float32), axis=-1)
  coords = jnp.stack([jnp.argmax(px, axis=-1), jnp.argmax(py, axis=-1)], axis=-1)
  coords = coords.astype(jnp.float32) / split_ratio
  return coords, jnp.minimum(jnp.max(px, axis=-1), jnp.max(py, axis=-1))


# ---------------------------------------------------------------------------------------------
# Flip test
# ---------------------------------------------------------------------------------------------


def flip_permutation(num_joints: int, flip_pairs: Sequence[Sequence[int]]) -> np.ndarray:
  """perm[k] = the joint whose map becomes joint k after a horizontal flip."""
  perm = np.arange(num_joints)
  for left, right in flip_pairs:
    perm[left], perm[right] = right, left
  return perm


def flip_images(images):
  """Mirror [..., H, W, C] images left-right (the flip test's second input)."""
  return jnp.flip(jnp.asarray(images), axis=-2)


def flip_back_heatmaps(heatmaps_flipped, flip_pairs, *, shift: bool):
  """Heatmaps predicted on a mirrored input, mirrored back into the original frame.

  Args:
    heatmaps_flipped: [B, h, w, K].
    flip_pairs: left/right joint pairs (data_pipeline.joints.FLIP_PAIRS).
    shift: move the maps one pixel right (HRNet's SHIFT_HEATMAP; the first column keeps its
      value), compensating the 3/4-pixel misalignment of a flipped stride-4 feature map.

  Returns:
    [B, h, w, K].
  """
  maps = jnp.flip(jnp.asarray(heatmaps_flipped), axis=2)
  maps = maps[..., flip_permutation(maps.shape[-1], flip_pairs)]
  if shift:
    maps = jnp.concatenate([maps[:, :, :1], maps[:, :, :-1]], axis=2)
  return maps


def flip_back_simcc(simcc_x_flipped, simcc_y_flipped, flip_pairs):
  """SimCC vectors predicted on a mirrored input, back in the original frame (as mmpose).

  Args:
    simcc_x_flipped: [B, K, Wx], reversed along the bins.
    simcc_y_flipped: [B, K, Wy], only the joints swap.
    flip_pairs: left/right joint pairs.

  Returns:
    (simcc_x, simcc_y).
  """
  x = jnp.asarray(simcc_x_flipped)
  perm = flip_permutation(x.shape[1], flip_pairs)
  return jnp.flip(x[:, perm], axis=-1), jnp.asarray(simcc_y_flipped)[:, perm]


def fuse_flipped_outputs(outputs: dict, outputs_flipped: dict, flip_pairs, *,
                         shift_heatmap: bool) -> dict:
  """Average every decodable output with its flipped-back counterpart.

  Args:
    outputs: model outputs on the input ('heatmaps', 'backbone_heatmaps', 'simcc_x/_y').
    outputs_flipped: model outputs on the mirrored input.
    flip_pairs: left/right joint pairs.
    shift_heatmap: see `flip_back_heatmaps`.

  Returns:
    A copy of `outputs` with the decodable entries replaced by the averages.
  """
  fused = dict(outputs)
  for key in ('heatmaps', 'backbone_heatmaps'):
    if key in outputs:
      back = flip_back_heatmaps(outputs_flipped[key], flip_pairs, shift=shift_heatmap)
      fused[key] = (outputs[key] + back) * 0.5
  if 'simcc_x' in outputs:
    back_x, back_y = flip_back_simcc(outputs_flipped['simcc_x'], outputs_flipped['simcc_y'],
                                     flip_pairs)
    fused['simcc_x'] = (outputs['simcc_x'] + back_x) * 0.5
    fused['simcc_y'] = (outputs['simcc_y'] + back_y) * 0.5
  return fused


# ---------------------------------------------------------------------------------------------
# Config-driven decoding and the host-side back-projection
# ---------------------------------------------------------------------------------------------


def make_decoder(config) -> Callable[[dict], dict]:
  """A jit-able function from model outputs to crop coordinates, as the config asks.

  Args:
    config: the experiment ConfigDict (reads config.model.head, image/heatmap sizes,
      simcc_split_ratio and config.eval.dark, dark_kernel_size, quarter_offset).

  Returns:
    decode(outputs) -> {'final': (coords, maxvals), 'backbone': (coords, maxvals)} with
    coords [B, K, 2] in input-crop pixels and maxvals [B, K]; 'backbone' only when the
    outputs have 'backbone_heatmaps'. Heatmap coordinates are scaled by the input/heatmap
    size ratio, which is the same map as back-projecting at heatmap size.
  """
  image_w, image_h = config.model.image_size
  heatmap_w, heatmap_h = config.model.heatmap_size
  ratio = np.array([image_w / heatmap_w, image_h / heatmap_h], np.float32)
  head = config.model.head
  split_ratio = config.model.simcc_split_ratio
  settings = dict(quarter_step=config.eval.quarter_offset, dark=config.eval.dark,
                  dark_kernel_size=config.eval.dark_kernel_size)

  def from_heatmaps(heatmaps):
    coords, maxvals = decode_heatmaps(heatmaps, **settings)
    return coords * ratio, maxvals

  def decode(outputs: dict) -> dict:
    if head == 'simcc':
      result = {'final': decode_simcc(outputs['simcc_x'], outputs['simcc_y'],
                                      split_ratio=split_ratio)}
    else:
      result = {'final': from_heatmaps(outputs['heatmaps'])}
    if 'backbone_heatmaps' in outputs:
      result['backbone'] = from_heatmaps(outputs['backbone_heatmaps'])
    return result

  return decode


def to_image_coords(coords, center, scale, rotation, *, crop_size, pixel_std: float):
  """Map crop coordinates back to the image through the inverse crop affine (host, numpy).

  Args:
    coords: [B, K, 2] crop pixels (x, y).
    center: [B, 2] crop centres in image pixels.
    scale: [B, 2] crop scales in units of pixel_std.
    rotation: [B] crop rotations in degrees (0 at evaluation).
    crop_size: (width, height) the coordinates refer to: the heatmap size for raw heatmap
      coordinates, the input size for SimCC or `make_decoder` coordinates.
    pixel_std: the unit of scale (200).

  Returns:
    [B, K, 2] float64 image pixels.
  """
  coords = np.asarray(coords, np.float64)
  center, scale = np.asarray(center), np.asarray(scale)
  rotation = np.broadcast_to(np.asarray(rotation, np.float64), coords.shape[:1])
  out = np.empty_like(coords)
  for i in range(coords.shape[0]):
    inverse = crop_affine_lib.crop_affine(center[i], scale[i], float(rotation[i]), crop_size,
                                          pixel_std, inverse=True)
    out[i] = crop_affine_lib.apply_affine(coords[i], inverse)
  return out


def joint_scores(maxvals, box_scores, mode: str) -> np.ndarray:
  """Per-joint confidence written to prediction files.

  Args:
    maxvals: [B, K] heatmap maxima (or SimCC confidences).
    box_scores: [B] detector box scores.
    mode: 'times_box_score' (published) or 'raw'.

  Returns:
    [B, K] float64.
  """
  config_schema.check_choice('eval.joint_score', mode)
  maxvals = np.asarray(maxvals, np.float64)
  if mode == 'raw':
    return maxvals
  return maxvals * np.asarray(box_scores, np.float64)[:, None]


def image_keypoints(coords, maxvals, batch: dict, config) -> np.ndarray:
  """[B, K, 3] image-space (x, y, score) from `make_decoder` output and the batch metadata."""
  xy = to_image_coords(coords, batch['center'], batch['scale'], batch['rotation'],
                       crop_size=tuple(config.model.image_size),
                       pixel_std=config.data.pixel_std)
  scores = joint_scores(maxvals, batch['box_score'], config.eval.joint_score)
  return np.concatenate([xy, scores[..., None]], axis=-1)
