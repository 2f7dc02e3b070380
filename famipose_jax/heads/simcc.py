"""The SimCC head: 1-D coordinate-classification targets, loss, decoding and flip-back.

SimCC (Li et al., ECCV 2022) classifies each joint's x and y into round(W k) and round(H k)
bins (k = split ratio, bins per input pixel). The codec follows mmpose's `SimCCLabel`
(Gaussian mode): per joint two 1-D Gaussians centred at round(k x), round(k y), divided by
sigma sqrt(2 pi); a joint whose 3-sigma window misses the bins gets weight 0 and all-zero
vectors. Decoding takes each classifier's argmax / k; the score is the smaller softmax maximum.
The loss is SimCC's KL divergence (losses.simcc_kl).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from data_pipeline import joints as joint_layout
from famipose_jax import losses


def simcc_bins(image_size: Sequence[int], split_ratio: float) -> tuple[int, int]:
  """(round(W k), round(H k)) for image_size (W, H): the x and y classifier widths."""
  width, height = image_size
  return int(np.round(width * split_ratio)), int(np.round(height * split_ratio))


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
  """1-D Gaussian SimCC targets (numpy, per sample, in the data pipeline).

  Args:
    joints: [K, 3] float (x, y, visible) in input-crop pixels.
    image_size: (W, H).
    split_ratio: bins per pixel k.
    sigma: Gaussian std in bins.

  Returns:
    simcc_x [K, round(W k)] float32, simcc_y [K, round(H k)] float32, weight [K] float32.
  """
  bins_x, bins_y = simcc_bins(image_size, split_ratio)
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
  perm = joint_layout.flip_permutation(x.shape[1], flip_pairs)
  return jnp.flip(x[:, perm], axis=-1), jnp.asarray(simcc_y_flipped)[:, perm]


@dataclasses.dataclass(frozen=True)
class SimCCCodec:
  """Joints <-> SimCC label vectors for an input crop of `image_size`.

  Attributes:
    image_size: (W, H) of the network input.
    split_ratio: bins per input pixel k (model.simcc_split_ratio).
    sigma: label Gaussian std in bins (data.simcc_sigma).
  """
  image_size: tuple[int, int]
  split_ratio: float
  sigma: float

  target_keys = ('simcc_x', 'simcc_y')

  @property
  def bins(self) -> tuple[int, int]:
    return simcc_bins(self.image_size, self.split_ratio)

  def target_spec(self, num_joints: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """{name: (shape, dtype)} of the per-sample targets `encode` writes (besides the weight)."""
    bins_x, bins_y = self.bins
    f32 = np.dtype(np.float32)
    return {'simcc_x': ((num_joints, bins_x), f32), 'simcc_y': ((num_joints, bins_y), f32)}

  def encode(self, joints: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """([K, 3] crop-pixel joints) -> ({'simcc_x', 'simcc_y'}, target_weight [K])."""
    simcc_x, simcc_y, weight = simcc_targets(joints, self.image_size, self.split_ratio,
                                             self.sigma)
    return {'simcc_x': simcc_x, 'simcc_y': simcc_y}, weight

  def decode(self, simcc_x, simcc_y) -> tuple[jax.Array, jax.Array]:
    """Logits -> (coords [B, K, 2] input-crop pixels, scores [B, K])."""
    return decode_simcc(simcc_x, simcc_y, split_ratio=self.split_ratio)

  @staticmethod
  def flip_back(simcc_x_flipped, simcc_y_flipped, flip_pairs):
    """Vectors predicted on a mirrored input, back in the input's frame (`flip_back_simcc`)."""
    return flip_back_simcc(simcc_x_flipped, simcc_y_flipped, flip_pairs)


@dataclasses.dataclass(frozen=True)
class SimCCHead:
  """The network's 'simcc_x'/'simcc_y' logits trained on the codec's labels with SimCC's KL.

  Attributes mirror config.loss: beta (simcc_beta), label_softmax, use_target_weight,
  batch_reduction (simcc_batch_reduction).
  """
  codec: SimCCCodec
  beta: float = 1.0
  label_softmax: bool = False
  use_target_weight: bool = True
  batch_reduction: str = 'mean'

  output_keys = ('simcc_x', 'simcc_y')   # the network outputs `decode` reads

  @property
  def target_keys(self) -> tuple[str, ...]:
    return self.codec.target_keys + ('target_weight',)

  def loss(self, outputs: dict[str, jax.Array], batch: dict[str, jax.Array]) -> jax.Array:
    return losses.simcc_kl(outputs['simcc_x'], outputs['simcc_y'], batch['simcc_x'],
                           batch['simcc_y'], batch['target_weight'], beta=self.beta,
                           label_softmax=self.label_softmax,
                           use_target_weight=self.use_target_weight,
                           batch_reduction=self.batch_reduction)

  def decode(self, outputs: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
    return self.codec.decode(outputs['simcc_x'], outputs['simcc_y'])
