"""The top-down crop: box -> (centre, scale) -> 2x3 affine, and its inverse for decoding.

Conventions of HRNet/DCPose/FAMI-Pose: scale is the box size in units of `pixel_std` pixels,
the crop maps the centre to the middle of the output and the (rotated) up-vector of half the
source width to half the output width. Training crops, evaluation crops and the decoder's
back-projection all use `crop_affine`, so the forward and inverse maps cannot drift apart.
"""

from __future__ import annotations

import cv2
import numpy as np


def box_to_center_scale(box_xywh, aspect_ratio: float, enlarge: float, pixel_std: float):
  """Centre and scale of a box widened or heightened to `aspect_ratio` (w/h), then enlarged.

  Args:
    box_xywh: [4] box as x, y, width, height in pixels.
    aspect_ratio: input width / input height (0.75 for 288x384).
    enlarge: the box enlargement factor (1.25 published).
    pixel_std: the unit of scale in pixels (200 published).

  Returns:
    center [2] float32 pixels, scale [2] float32 in units of pixel_std.
  """
  x, y, w, h = (float(v) for v in box_xywh)
  center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
  if w > aspect_ratio * h:
    h = w / aspect_ratio
  elif w < aspect_ratio * h:
    w = h * aspect_ratio
  scale = np.array([w / pixel_std, h / pixel_std], dtype=np.float32) * enlarge
  return center, scale


def _rotate(point, angle_rad: float):
  sin, cos = np.sin(angle_rad), np.cos(angle_rad)
  return np.array([point[0] * cos - point[1] * sin, point[0] * sin + point[1] * cos],
                  dtype=np.float32)


def _third_point(a, b):
  """The point that makes (a, b, c) a right angle at b, fixing the affine's orientation."""
  direction = a - b
  return b + np.array([-direction[1], direction[0]], dtype=np.float32)


def crop_affine(center, scale, rotation_deg: float, output_size, pixel_std: float,
                inverse: bool = False) -> np.ndarray:
  """The 2x3 matrix sending image pixels to crop pixels (or back, with `inverse`).

  Args:
    center: [2] crop centre in image pixels.
    scale: [2] crop size in units of `pixel_std` (only the width fixes the zoom).
    rotation_deg: rotation in degrees (counter-clockwise content rotation as published).
    output_size: (width, height) of the crop (the input or the heatmap size).
    pixel_std: the unit of scale in pixels.
    inverse: return the crop -> image matrix instead.

  Returns:
    [2, 3] float64 matrix for cv2.warpAffine / `apply_affine`.
  """
  center = np.asarray(center, dtype=np.float32)
  scale_px = np.asarray(scale, dtype=np.float32) * pixel_std
  out_w, out_h = float(output_size[0]), float(output_size[1])
  angle = np.pi * rotation_deg / 180.0
  src_dir = _rotate([0.0, scale_px[0] * -0.5], angle)
  dst_dir = np.array([0.0, out_w * -0.5], dtype=np.float32)

  src = np.zeros((3, 2), dtype=np.float32)
  dst = np.zeros((3, 2), dtype=np.float32)
  src[0] = center
  src[1] = center + src_dir
  dst[0] = [out_w * 0.5, out_h * 0.5]
  dst[1] = dst[0] + dst_dir
  src[2] = _third_point(src[0], src[1])
  dst[2] = _third_point(dst[0], dst[1])
  if inverse:
    return cv2.getAffineTransform(dst, src)
  return cv2.getAffineTransform(src, dst)


def apply_affine(points, matrix) -> np.ndarray:
  """Apply a 2x3 affine to points.

  Args:
    points: [..., 2] x, y coordinates.
    matrix: [2, 3] affine.

  Returns:
    [..., 2] transformed coordinates (float64).
  """
  points = np.asarray(points, dtype=np.float64)
  matrix = np.asarray(matrix, dtype=np.float64)
  return points @ matrix[:, :2].T + matrix[:, 2]
