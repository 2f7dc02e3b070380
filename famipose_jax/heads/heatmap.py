"""The heatmap head: Gaussian targets, their loss, decoding and flip-back, in one place.

The codec (as mmpose pairs a codec with each head) turns joints into training targets and
predicted maps back into joints. Targets as published (HRNet / DCPose / FAMI-Pose
`generate_target`): per joint an unnormalised Gaussian (peak 1) of std `sigma` in a
(6 sigma + 1)-wide window centred at int(x / stride + 0.5), stride = input size / heatmap size;
weight 0 for an invisible joint or a window that misses the map entirely (ul >= size or
br < 0, as coded). The head adds the loss FAMI-Pose trains with (JointMSELoss).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from data_pipeline import joints as joint_layout
from famipose_jax import losses
from famipose_jax.heads import heatmap_peaks


def heatmap_targets(joints: np.ndarray, image_size, heatmap_size, sigma: float):
  """Gaussian heatmaps and weights (numpy, per sample, in the data pipeline).

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


def flip_back_heatmaps(heatmaps_flipped, flip_pairs: Sequence[Sequence[int]], *, shift: bool):
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
  maps = maps[..., joint_layout.flip_permutation(maps.shape[-1], flip_pairs)]
  if shift:
    maps = jnp.concatenate([maps[:, :, :1], maps[:, :, :-1]], axis=2)
  return maps


@dataclasses.dataclass(frozen=True)
class HeatmapCodec:
  """Joints <-> Gaussian heatmaps at `heatmap_size` for an input crop of `image_size`.

  Attributes:
    image_size: (W, H) of the network input.
    heatmap_size: (w, h) of the maps.
    sigma: target Gaussian std in heatmap pixels (data.sigma).
    quarter_step: the published sub-pixel step used when decoding without DARK.
    dark: decode with DARK instead.
    dark_kernel_size: DARK's blur size.
  """
  image_size: tuple[int, int]
  heatmap_size: tuple[int, int]
  sigma: float
  quarter_step: float = 0.25
  dark: bool = False
  dark_kernel_size: int = 11

  target_keys = ('heatmap',)

  def target_spec(self, num_joints: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{name: (shape, dtype)} of the per-sample targets `encode` writes (besides the weight)."""
    width, height = self.heatmap_size
    return {'heatmap': ((height, width, num_joints), np.dtype(np.float32))}

  def encode(self, joints: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """([K, 3] crop-pixel joints) -> ({'heatmap': [h, w, K]}, target_weight [K])."""
    heatmap, weight = heatmap_targets(joints, self.image_size, self.heatmap_size, self.sigma)
    return {'heatmap': heatmap}, weight

  def decode(self, heatmaps) -> tuple[jax.Array, jax.Array]:
    """[B, h, w, K] maps -> (coords [B, K, 2] input-crop pixels, maxima [B, K]).

    Heatmap pixels are scaled by the input/heatmap size ratio, the same map as
    back-projecting at heatmap size.
    """
    coords, maxvals = heatmap_peaks.decode_heatmaps(
        heatmaps, quarter_step=self.quarter_step, dark=self.dark,
        dark_kernel_size=self.dark_kernel_size)
    ratio = np.array([self.image_size[0] / self.heatmap_size[0],
                      self.image_size[1] / self.heatmap_size[1]], np.float32)
    return coords * ratio, maxvals

  @staticmethod
  def flip_back(heatmaps_flipped, flip_pairs, *, shift: bool):
    """Maps predicted on a mirrored input, back in the input's frame (`flip_back_heatmaps`)."""
    return flip_back_heatmaps(heatmaps_flipped, flip_pairs, shift=shift)


@dataclasses.dataclass(frozen=True)
class HeatmapHead:
  """The network's 'heatmaps' output trained on the codec's targets with the joint MSE.

  Attributes:
    codec: its HeatmapCodec.
    loss_weight: loss.heatmap_weight.
    use_target_weight: loss.use_target_weight.
  """
  codec: HeatmapCodec
  loss_weight: float = 1.0
  use_target_weight: bool = True

  output_keys = ('heatmaps',)   # the network outputs `decode` reads

  @property
  def target_keys(self) -> tuple[str, ...]:
    return self.codec.target_keys + ('target_weight',)

  def loss(self, outputs: dict[str, jax.Array], batch: dict[str, jax.Array]) -> jax.Array:
    return self.loss_weight * losses.joint_mse(outputs['heatmaps'], batch['heatmap'],
                                               batch['target_weight'], self.use_target_weight)

  def decode(self, outputs: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    return self.codec.decode(outputs['heatmaps'])
