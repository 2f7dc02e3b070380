"""From decoded frames and a ClipAugmentation to network inputs and crop-space joints.

The published code flips the whole frame, mirrors the crop centre (x -> W - 1 - x) and then
crops. Here the mirror is folded into the crop affine (crop(c') o mirror), which reads the
same pixels without copying the frame. Frames are warped as uint8 (bilinear, zero border) and the
colour swap BGR -> RGB happens on the small crop; crops stay uint8 (the published ToTensor +
Normalize runs on the device, `famipose_jax.models.pixels`).

Crop conventions (`data.crop_convention`):
  'size_minus_one': FAMI-Pose's clip crop (`dark_get_affine_transform`): the crop centre maps
    to ((W - 1) / 2, (H - 1) / 2) and (scale * pixel_std - 1) source pixels span W - 1 output
    pixels.
  'size': HRNet's `get_affine_transform` (centre -> (W / 2, H / 2), scale * pixel_std -> W).
Both are `crop_affine.crop_affine`, the first with the sizes shrunk by one pixel.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from data_pipeline import crop_affine
from data_pipeline.augment import ClipAugmentation


def mirror_matrix(image_width: int) -> np.ndarray:
  """[3, 3] horizontal mirror of an image `image_width` pixels wide: x -> W - 1 - x."""
  return np.array([[-1.0, 0.0, image_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _homogeneous(matrix) -> np.ndarray:
  return np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])


def crop_center(aug: ClipAugmentation, image_width: int) -> np.ndarray:
  """The crop centre in the (possibly mirrored) frame the published code crops: [2] float32."""
  center = np.array(aug.center, np.float32)
  if aug.flip:
    center[0] = image_width - center[0] - 1
  return center


def crop_matrix(aug: ClipAugmentation, image_width: int, output_size, pixel_std: float,
                convention: str = 'size_minus_one', inverse: bool = False) -> np.ndarray:
  """The [2, 3] affine from original-frame pixels to crop pixels (or back, with `inverse`).

  Args:
    aug: the clip's crop (centre/scale in the unflipped frame, rotation, flip).
    image_width: the frame width (the mirror axis).
    output_size: (W, H) of the crop (input or heatmap size).
    pixel_std: the unit of scale.
    convention: 'size_minus_one' | 'size' (module docstring).
    inverse: return crop -> frame instead.
  """
  center = crop_center(aug, image_width)
  scale = np.asarray(aug.scale, np.float32)
  if convention == 'size_minus_one':
    scale = scale - np.float32(1.0 / pixel_std)
    output_size = (output_size[0] - 1, output_size[1] - 1)
  matrix = _homogeneous(crop_affine.crop_affine(center, scale, aug.rotation, output_size,
                                                pixel_std))
  if aug.flip:
    matrix = matrix @ mirror_matrix(image_width)
  if inverse:
    matrix = np.linalg.inv(matrix)
  return matrix[:2]


def reduced_frame_matrix(matrix: np.ndarray, reduction: int) -> np.ndarray:
  """The affine for a frame decoded at 1/reduction size (pixel r i + (r - 1) / 2 of the full)."""
  if reduction == 1:
    return matrix
  expand = np.array([[reduction, 0.0, (reduction - 1) / 2.0],
                     [0.0, reduction, (reduction - 1) / 2.0], [0.0, 0.0, 1.0]])
  return (_homogeneous(matrix) @ expand)[:2]


def source_region(matrix: np.ndarray, output_size, frame_size) -> tuple[int, int, int, int] | None:
  """The frame pixels (x0, y0, x1, y1), ends exclusive, that warping with `matrix` can read.

  The bounding box of the crop's corners mapped back into the frame, plus the bilinear
  neighbour and one pixel for OpenCV's 1/32-pixel fixed-point coordinates, clipped to the
  frame; None when the crop misses the frame.
  """
  out_w, out_h = output_size
  corners = np.array([[0, 0], [out_w - 1, 0], [0, out_h - 1], [out_w - 1, out_h - 1]],
                     np.float64)
  source = crop_affine.apply_affine(corners, cv2.invertAffineTransform(matrix))
  (x0, y0), (x1, y1) = np.floor(source.min(0)) - 2, np.ceil(source.max(0)) + 3
  x0, y0 = max(int(x0), 0), max(int(y0), 0)
  x1, y1 = min(int(x1), int(frame_size[0])), min(int(y1), int(frame_size[1]))
  return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def place_region(region: np.ndarray, origin, frame_size) -> np.ndarray:
  """A frame-sized uint8 [H, W, 3] array holding `region` at `origin`, for `warp_frame`.

  Warping it with the full frame's matrix gives bit-identical crops (a shifted matrix would not:
  OpenCV rounds coordinates to 1/32 pixel, and the shift changes that rounding). Pixels outside
  the region are never read (`source_region`), so the array is reused per thread, unzeroed.
  """
  width, height = int(frame_size[0]), int(frame_size[1])
  canvas = getattr(_CANVASES, 'frame', None)
  if canvas is None or canvas.shape[:2] != (height, width):
    canvas = _CANVASES.frame = np.empty((height, width, 3), np.uint8)
  x, y = origin
  canvas[y:y + region.shape[0], x:x + region.shape[1]] = region
  return canvas


_CANVASES = threading.local()   # tf.data fills batches from several threads


def warp_frame(frame: np.ndarray, matrix: np.ndarray, output_size) -> np.ndarray:
  """Bilinear crop of a uint8 frame [H, W, 3] to [out_H, out_W, 3] uint8, zeros outside."""
  return cv2.warpAffine(frame, matrix, (int(output_size[0]), int(output_size[1])),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def fill_clip(slots, numbers, crop_into) -> None:
  """Writes the crop of frame `numbers[i]` into `slots[i]`, cropping each distinct frame once.

  `crop_into(number, slot)` writes one frame's crop into `slot`; a frame named again (near a
  video's ends the boundary rule repeats frames) is copied from the slot it first went to.
  """
  done: dict[int, np.ndarray] = {}
  for number, slot in zip(numbers, slots):
    if number in done:
      slot[...] = done[number]
    else:
      crop_into(number, slot)
      done[number] = slot


def bgr_to_rgb(crop: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
  """uint8 BGR crop [H, W, 3] -> uint8 RGB (written into `out` if given)."""
  if out is None:
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
  result = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB, dst=out)
  if result.ctypes.data != out.ctypes.data:   # OpenCV allocated instead (non-contiguous out)
    out[...] = result
  return out


def flip_joints(joints: np.ndarray, image_width: int, flip_pairs) -> np.ndarray:
  """Mirrors joints [K, 3] (x -> W - 1 - x), swaps left/right slots, zeroes invisible ones.

  As the published `fliplr_joints`; applying it twice gives back the visible joints.
  """
  flipped = np.array(joints, np.float32, copy=True)
  flipped[:, 0] = image_width - flipped[:, 0] - 1
  for a, b in flip_pairs:
    flipped[[a, b]] = flipped[[b, a]]
  flipped[:, :2] *= (flipped[:, 2:3] > 0)
  return flipped


def crop_joints(joints: np.ndarray, aug: ClipAugmentation, image_width: int, image_size,
                pixel_std: float, convention: str, flip_pairs) -> np.ndarray:
  """Key-frame joints [K, 3] in crop pixels, visibility 0 where invisible or outside the crop.

  Follows the published order: flip (mirror, swap, zero invisible), then the crop affine of the
  mirrored frame on the visible joints, then x < 0, y < 0, x > W or y > H -> invisible.
  Invisible joints are returned as (0, 0, 0).
  """
  out = np.array(joints, np.float32, copy=True)
  if aug.flip:
    out = flip_joints(out, image_width, flip_pairs)
  mirrored = ClipAugmentation(center=crop_center(aug, image_width), scale=aug.scale,
                              rotation=aug.rotation, flip=False)
  matrix = crop_matrix(mirrored, image_width, image_size, pixel_std, convention)
  visible = out[:, 2] > 0
  out[visible, :2] = crop_affine.apply_affine(out[visible, :2], matrix)
  x, y = out[:, 0], out[:, 1]
  inside = (x >= 0) & (y >= 0) & (x <= image_size[0]) & (y <= image_size[1])
  out[:, 2] = np.where(visible & inside, 1.0, 0.0)
  out[out[:, 2] == 0] = 0
  return out
