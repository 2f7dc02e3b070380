"""SimCC's classification loss: KL divergence between per-axis bin distributions.

Facts from the SimCC code (leeyegy/SimCC KLDiscretLoss, mmpose's KLDiscretLoss and its SimCC
HRNet configs): predictions go through log_softmax(pred * beta) over the bins; targets are the
Gaussian label vectors as given (or softmax(target * beta) when label_softmax); the elementwise
KL target * (log target - log p), with 0 where target == 0, is averaged over the bins, weighted
per joint, summed over the x and y axes and over joints, divided by the number of joints.
SimCC's own code then averages over the batch; mmpose sums over it ('sum'). The SimCC/HRNet
settings are beta = 1, label_softmax = False, use_target_weight = True (RTMPose uses beta = 10
with label_softmax = True).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import xlogy

from famipose_jax.config import schema as config_schema


def _kl_per_row(pred: jax.Array, target: jax.Array, beta: float,
                label_softmax: bool) -> jax.Array:
  """[B, K, bins] logits and targets -> [B, K] bin-averaged KL(target || softmax(pred * beta))."""
  log_p = jax.nn.log_softmax(pred.astype(jnp.float32) * beta, axis=-1)
  target = target.astype(jnp.float32)
  if label_softmax:
    target = jax.nn.softmax(target * beta, axis=-1)
  return jnp.mean(xlogy(target, target) - target * log_p, axis=-1)


def simcc_kl(pred_x: jax.Array, pred_y: jax.Array, target_x: jax.Array, target_y: jax.Array,
             target_weight: jax.Array, *, beta: float = 1.0, label_softmax: bool = False,
             use_target_weight: bool = True, batch_reduction: str = 'mean') -> jax.Array:
  """The SimCC KL loss (scalar float32).

  Args:
    pred_x, target_x: [B, K, Wx] logits and label vectors over the x bins.
    pred_y, target_y: [B, K, Wy] over the y bins.
    target_weight: [B, K].
    beta: softmax temperature factor (config loss.simcc_beta).
    label_softmax: apply softmax(target * beta) to the labels (config loss.simcc_label_softmax).
    use_target_weight: weight each joint's loss by target_weight.
    batch_reduction: 'mean' (SimCC's code) or 'sum' (mmpose's).
  """
  for name, pred, target in (('x', pred_x, target_x), ('y', pred_y, target_y)):
    if pred.ndim != 3 or pred.shape != target.shape:
      raise ValueError(f'simcc_kl: pred_{name} {pred.shape} and target_{name} {target.shape} '
                       'must both be [B, K, bins]')
  b, k = pred_x.shape[:2]
  if pred_y.shape[:2] != (b, k) or target_weight.shape != (b, k):
    raise ValueError(f'simcc_kl: pred_x {pred_x.shape}, pred_y {pred_y.shape} and target_weight '
                     f'{target_weight.shape} must share [B, K]')
  reductions = config_schema.CHOICES['loss.simcc_batch_reduction']
  if batch_reduction not in reductions:
    raise ValueError(f"simcc_kl: batch_reduction must be {' or '.join(map(repr, reductions))}, "
                     f'got {batch_reduction!r}')
  rows = (_kl_per_row(pred_x, target_x, beta, label_softmax)
          + _kl_per_row(pred_y, target_y, beta, label_softmax))            # [B, K]
  if use_target_weight:
    rows = rows * target_weight.astype(jnp.float32)
  total = jnp.sum(rows) / k
  return total / b if batch_reduction == 'mean' else total
