"""From model outputs to joint coordinates and scores in the original image.

Each head's codec (famipose_jax.heads) decodes its outputs to input-crop coordinates inside
`jax.jit` on the device, so only [B, K, 2] coordinates and [B, K] maxima travel to the host.
The host then maps crop coordinates back into the image through the inverse of the same crop
affine the data pipeline used (`data_pipeline.crop_affine`); the published joint score is the
heatmap maximum x the box score.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from data_pipeline import crop_affine as crop_affine_lib
from famipose_jax.config import schema as config_schema
from famipose_jax import heads


def flip_images(images):
  """Mirror [..., H, W, C] images left-right (the flip test's second input)."""
  return jnp.flip(jnp.asarray(images), axis=-2)


def fuse_flipped_outputs(outputs: dict, outputs_flipped: dict, flip_pairs, *,
                         shift_heatmap: bool) -> dict:
  """Average every decodable output with its flipped-back counterpart.

  Args:
    outputs: model outputs on the input ('heatmaps', 'backbone_heatmaps', 'simcc_x/_y').
    outputs_flipped: model outputs on the mirrored input.
    flip_pairs: left/right joint pairs.
    shift_heatmap: see `heads.heatmap.flip_back_heatmaps`.

  Each output is flipped back by its codec: heatmaps (the head's and the backbone's) by
  `heads.HeatmapCodec.flip_back`, SimCC vectors by `heads.SimCCCodec.flip_back`.

  Returns:
    A copy of `outputs` with the decodable entries replaced by the averages.
  """
  fused = dict(outputs)
  for key in ('heatmaps', 'backbone_heatmaps'):
    if key in outputs:
      back = heads.HeatmapCodec.flip_back(outputs_flipped[key], flip_pairs, shift=shift_heatmap)
      fused[key] = (outputs[key] + back) * 0.5
  if 'simcc_x' in outputs:
    back_x, back_y = heads.SimCCCodec.flip_back(outputs_flipped['simcc_x'],
                                                outputs_flipped['simcc_y'], flip_pairs)
    fused['simcc_x'] = (outputs['simcc_x'] + back_x) * 0.5
    fused['simcc_y'] = (outputs['simcc_y'] + back_y) * 0.5
  return fused


# ---------------------------------------------------------------------------------------------
# Config-driven decoding and the host-side back-projection
# ---------------------------------------------------------------------------------------------


def make_decoder(config, head=None) -> Callable[[dict], dict]:
  """A jit-able function from model outputs to crop coordinates, as the config asks.

  Args:
    config: the experiment ConfigDict (its head, sizes and config.eval decoding settings).
    head: the config's head when already built (heads.build_head(config) otherwise).

  Returns:
    decode(outputs) -> {'final': (coords, maxvals), 'backbone': (coords, maxvals)} with
    coords [B, K, 2] in input-crop pixels and maxvals [B, K]: 'final' by the configured head,
    'backbone' by the heatmap codec, only when the outputs have 'backbone_heatmaps'.
  """
  head = heads.build_head(config) if head is None else head
  backbone_codec = heads.heatmap_codec(config)

  def decode(outputs: dict) -> dict:
    result = {'final': head.decode(outputs)}
    if 'backbone_heatmaps' in outputs:
      result['backbone'] = backbone_codec.decode(outputs['backbone_heatmaps'])
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
  maxvals = np.asarray(maxvals, np.float64)
  config_schema.check_choice('eval.joint_score', mode)
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
