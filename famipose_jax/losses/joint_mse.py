"""The heatmap loss FAMI-Pose trains with (its JointMSELoss)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def joint_mse(pred: jax.Array, target: jax.Array, target_weight: jax.Array,
              use_target_weight: bool = True) -> jax.Array:
  """Per-joint mean of (pred * w - target * w)^2 over batch and pixels, summed over joints,
  divided by the number of joints (no 0.5 factor, unlike HRNet's JointsMSELoss).

  Args:
    pred, target: [B, h, w, K] heatmaps.
    target_weight: [B, K] per-example joint weights (0 for unlabelled joints).
    use_target_weight: False ignores the weights (the published code's switch).

  Returns:
    float32 scalar. Every joint averages over the same B * h * w elements, so this equals the
    mean over all elements of the weighted squared error.
  """
  if pred.shape != target.shape or pred.ndim != 4:
    raise ValueError(f'joint_mse: pred {pred.shape} and target {target.shape} must both be '
                     '[B, h, w, K]')
  if target_weight.shape != (pred.shape[0], pred.shape[-1]):
    raise ValueError(f'joint_mse: target_weight shape {target_weight.shape} != '
                     f'{(pred.shape[0], pred.shape[-1])} (= [B, K] for pred {pred.shape})')
  pred = pred.astype(jnp.float32)
  target = target.astype(jnp.float32)
  if use_target_weight:
    w = target_weight.astype(jnp.float32)[:, None, None, :]
    pred, target = pred * w, target * w
  per_joint = jnp.mean(jnp.square(pred - target), axis=(0, 1, 2))        # [K]
  return jnp.sum(per_joint) / pred.shape[-1]
