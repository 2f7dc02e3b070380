"""joint_mse and simcc_kl against NumPy recomputations and hand-computed numbers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from famipose_jax import losses

# Jitted: eager op-by-op dispatch costs more than these tiny computations.
simcc_kl = jax.jit(losses.simcc_kl, static_argnames=('beta', 'label_softmax', 'use_target_weight',
                                                     'batch_reduction'))
joint_mse = jax.jit(losses.joint_mse, static_argnames=('use_target_weight',))


def test_joint_mse_pinned_number():
  # B=2, 1x2 maps, K=2. Joint 0: errors (1, 2) and (0, 0) with weights 1 and 0.5;
  # joint 1: errors (3, 0) and (1, 1) with weights 0 and 2.
  pred = np.zeros((2, 1, 2, 2), np.float32)
  pred[0, 0, :, 0] = [1, 2]
  pred[0, 0, :, 1] = [3, 0]
  pred[1, 0, :, 1] = [1, 1]
  target = np.zeros_like(pred)
  weight = np.array([[1.0, 0.0], [0.5, 2.0]], np.float32)
  # joint 0: mean(1, 4, 0, 0) = 1.25; joint 1: mean(0, 0, 4, 4) = 2; (1.25 + 2) / 2 = 1.625.
  assert float(joint_mse(pred, target, weight)) == pytest.approx(1.625, abs=1e-7)
  # Unweighted: joint 0 mean(1, 4, 0, 0) = 1.25, joint 1 mean(9, 0, 1, 1) = 2.75 -> 2.0.
  assert float(joint_mse(pred, target, weight, use_target_weight=False)) == (
      pytest.approx(2.0, abs=1e-7))


def test_joint_mse_matches_numpy_per_joint_loop():
  rng = np.random.default_rng(0)
  pred, target = rng.normal(size=(2, 3, 4, 6, 5))
  weight = rng.uniform(size=(3, 5))
  want = 0.0
  for k in range(5):  # the published loop: per-joint mean over batch and pixels
    w = weight[:, k][:, None, None]
    want += np.mean((pred[..., k] * w - target[..., k] * w) ** 2)
  want /= 5
  got = joint_mse(jnp.asarray(pred, jnp.float32), jnp.asarray(target, jnp.float32),
                                  jnp.asarray(weight, jnp.float32))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def _numpy_simcc(px, py, tx, ty, w, beta, label_softmax, reduction):
  def log_softmax(a):
    a = a - a.max(-1, keepdims=True)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))

  total = 0.0
  for pred, target in ((px, tx), (py, ty)):
    log_p = log_softmax(pred * beta)
    if label_softmax:
      target = np.exp(log_softmax(target * beta))
    with np.errstate(divide='ignore', invalid='ignore'):
      kl = np.where(target > 0, target * (np.log(target) - log_p), 0.0)
    total = total + kl.mean(-1) * w                                     # [B, K]
  k = px.shape[1]
  return total.sum() / k / (px.shape[0] if reduction == 'mean' else 1)


@pytest.mark.parametrize('beta,label_softmax,reduction', [(1.0, False, 'mean'),
                                                          (10.0, True, 'sum')])
def test_simcc_kl_matches_numpy(beta, label_softmax, reduction):
  rng = np.random.default_rng(1)
  b, k, wx, wy = 3, 4, 12, 16
  px, py = rng.normal(size=(b, k, wx)), rng.normal(size=(b, k, wy))
  bins_x, bins_y = np.arange(wx), np.arange(wy)
  mu = rng.uniform(2, 10, size=(b, k, 1))
  tx = np.exp(-(bins_x - mu) ** 2 / 8)
  ty = np.exp(-(bins_y - mu) ** 2 / 8)
  tx[0, 0] = 0  # an unlabelled joint: all-zero target contributes 0 (no NaN)
  w = rng.uniform(size=(b, k))
  got = simcc_kl(*(jnp.asarray(a, jnp.float32) for a in (px, py, tx, ty, w)), beta=beta,
                        label_softmax=label_softmax, batch_reduction=reduction)
  np.testing.assert_allclose(got, _numpy_simcc(px, py, tx, ty, w, beta, label_softmax,
                                               reduction), rtol=1e-5)


def test_simcc_kl_pinned_number():
  # One example, one joint, 2 bins. Uniform prediction, target (1, 0) on x and (0.5, 0.5) on y:
  # x: mean over bins of [1 * (log 1 - log 0.5), 0] = log(2) / 2; y: KL = 0. Weight 0.5.
  pred = jnp.zeros((1, 1, 2))
  tx = jnp.array([[[1.0, 0.0]]])
  ty = jnp.array([[[0.5, 0.5]]])
  got = simcc_kl(pred, pred, tx, ty, jnp.array([[0.5]]))
  assert float(got) == pytest.approx(0.5 * np.log(2) / 2, rel=1e-6)
  # mmpose sums over the batch: two identical examples double it; SimCC's mean does not.
  two = lambda a: jnp.concatenate([a, a])
  args = (two(pred), two(pred), two(tx), two(ty), jnp.array([[0.5], [0.5]]))
  assert float(simcc_kl(*args)) == pytest.approx(float(got), rel=1e-6)
  assert float(simcc_kl(*args, batch_reduction='sum')) == pytest.approx(2 * float(got),
                                                                                rel=1e-6)


def test_task_loss_errors():
  with pytest.raises(ValueError, match=r'target_weight shape \(2, 3\) != \(2, 4\)'):
    losses.joint_mse(jnp.zeros((2, 5, 5, 4)), jnp.zeros((2, 5, 5, 4)), jnp.zeros((2, 3)))
  with pytest.raises(ValueError, match=r'pred \(2, 5, 5, 4\) and target \(2, 5, 4, 4\)'):
    losses.joint_mse(jnp.zeros((2, 5, 5, 4)), jnp.zeros((2, 5, 4, 4)), jnp.zeros((2, 4)))
  z = jnp.zeros((2, 3, 8))
  with pytest.raises(ValueError, match=r'pred_y \(2, 3, 8\) and target_y \(2, 3, 9\)'):
    losses.simcc_kl(z, z, z, jnp.zeros((2, 3, 9)), jnp.zeros((2, 3)))
  with pytest.raises(ValueError, match=r"batch_reduction must be 'mean' or 'sum', got 'max'"):
    losses.simcc_kl(z, z, z, z, jnp.zeros((2, 3)), batch_reduction='max')
