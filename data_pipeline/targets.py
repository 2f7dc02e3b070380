"""Training targets from key-frame joints in input-crop pixels.

Heatmaps as published (HRNet/DCPose/FAMI-Pose `generate_heatmaps`): per joint an unnormalised
Gaussian (peak 1) of std `sigma` in a (6 sigma + 1)-wide window centred at
int(x / stride + 0.5), stride = input size / heatmap size; weight 0 for an invisible joint or
a window that misses the map entirely (ul >= size or br < 0, as coded).

SimCC (mmpose `SimCCLabel`, Gaussian mode): per joint two 1-D Gaussians over round(W k) and
round(H k) bins centred at round(k x), round(k y), divided by sigma sqrt(2 pi); a joint whose
3-sigma window misses the bins gets all-zero vectors.
"""

from __future__ import annotations

import numpy as np


def heatmap_targets(joints: np.ndarray, image_size, heatmap_size, sigma: float):
  """Gaussian heatmaps and weights.

  Args:
    joints: [K, 3] float (x, y, visible) in input-crop pixels.
    image_size: (W, H) of the input crop.
    heatmap_size: (w, h).
    sigma: Gaussian std in heatmap pixels.

  Returns:
    heatmap [h, w, K] float32 (NHWC), target_weight [K] float32.
  """
  num_joints = len(joints)
  width, height = int(heatmap_size[0]), int(heatmap_size[1])
  stride_x = image_size[0] / heatmap_size[0]
  stride_y = image_size[1] / heatmap_size[1]
  heatmap = np.zeros((height, width, num_joints), np.float32)
  weight = (joints[:, 2] > 0).astype(np.float32)
  radius = sigma * 3
  size = 2 * radius + 1
  axis = np.arange(0, size, 1, np.float32)
  mid = size // 2
  gaussian = np.exp(-((axis[None, :] - mid) ** 2 + (axis[:, None] - mid) ** 2)
                    / (2 * sigma ** 2)).astype(np.float32)
  for k in range(num_joints):
    mu_x = int(joints[k, 0] / stride_x + 0.5)
    mu_y = int(joints[k, 1] / stride_y + 0.5)
    ul = (int(mu_x - radius), int(mu_y - radius))
    br = (int(mu_x + radius + 1), int(mu_y + radius + 1))
    if ul[0] >= width or ul[1] >= height or br[0] < 0 or br[1] < 0:
      weight[k] = 0
      continue
    if weight[k] <= 0.5:
      continue
    gx = max(0, -ul[0]), min(br[0], width) - ul[0]
    gy = max(0, -ul[1]), min(br[1], height) - ul[1]
    ix = max(0, ul[0]), min(br[0], width)
    iy = max(0, ul[1]), min(br[1], height)
    heatmap[iy[0]:iy[1], ix[0]:ix[1], k] = gaussian[gy[0]:gy[1], gx[0]:gx[1]]
  return heatmap, weight


def _gaussian_1d(centres: np.ndarray, bins: int, sigma: float, norm: float) -> np.ndarray:
  """norm * exp(-(i - centre)^2 / (2 sigma^2)) over bins i, float32, no subnormal values.

  Tails far from the centre underflow into float32's subnormal range, where the result would
  depend on the calling thread's flush-to-zero mode (TensorFlow's threads flush, NumPy's
  main thread does not); they are set to exactly 0 so every loader gives the same bits.
  """
  axis = np.arange(bins, dtype=np.float64)
  values = (np.exp(-((axis[None, :] - centres[:, None]) ** 2) / (2 * sigma ** 2)) * norm)
  values = values.astype(np.float32)
  values[values < np.finfo(np.float32).tiny] = 0
  return values


def simcc_targets(joints: np.ndarray, image_size, split_ratio: float, sigma: float):
  """1-D Gaussian SimCC targets.

  Args:
    joints: [K, 3] float (x, y, visible) in input-crop pixels.
    image_size: (W, H).
    split_ratio: bins per pixel k.
    sigma: Gaussian std in bins.

  Returns:
    simcc_x [K, round(W k)] float32, simcc_y [K, round(H k)] float32, weight [K] float32.
  """
  bins_x = int(np.round(image_size[0] * split_ratio))
  bins_y = int(np.round(image_size[1] * split_ratio))
  visible = joints[:, 2] > 0
  centres = np.where(visible[:, None], joints[:, :2], 0.0)
  centres = np.round(centres * split_ratio).astype(np.float32)
  radius = sigma * 3
  weight = visible.astype(np.float32)
  outside = ((centres[:, 0] - radius >= bins_x) | (centres[:, 1] - radius >= bins_y)
             | (centres[:, 0] + radius + 1 < 0) | (centres[:, 1] + radius + 1 < 0))
  weight[outside] = 0
  norm = 1.0 / (sigma * np.sqrt(2 * np.pi))
  simcc_x = _gaussian_1d(centres[:, 0].astype(np.float64), bins_x, sigma, norm)
  simcc_y = _gaussian_1d(centres[:, 1].astype(np.float64), bins_y, sigma, norm)
  simcc_x[weight == 0] = 0
  simcc_y[weight == 0] = 0
  return simcc_x, simcc_y, weight
