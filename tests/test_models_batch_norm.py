"""BatchNorm reproduces PyTorch's BatchNorm2d (biased variance to normalise, unbiased to track)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from famipose_jax.models import batch_norm


def _torch_reference(x, mean, var, weight, bias, momentum, eps):
  """PyTorch BatchNorm2d training step in NumPy (x NHWC, momentum in PyTorch's convention)."""
  n = x.shape[0] * x.shape[1] * x.shape[2]
  batch_mean = x.mean(axis=(0, 1, 2))
  biased = ((x - batch_mean) ** 2).mean(axis=(0, 1, 2))
  y = (x - batch_mean) / np.sqrt(biased + eps) * weight + bias
  new_mean = (1 - momentum) * mean + momentum * batch_mean
  new_var = (1 - momentum) * var + momentum * biased * n / (n - 1)
  return y, new_mean, new_var


def test_training_step_matches_pytorch_formula():
  rng = np.random.default_rng(0)
  x = rng.normal(3.0, 2.0, size=(2, 3, 4, 5)).astype(np.float32)   # n = 24 per channel
  scale = rng.uniform(0.5, 1.5, 5).astype(np.float32)
  bias = rng.normal(size=5).astype(np.float32)
  mean = rng.normal(size=5).astype(np.float32)
  var = rng.uniform(0.5, 2.0, 5).astype(np.float32)
  module = batch_norm.BatchNorm(momentum=0.9, epsilon=1e-5)
  variables = {'params': {'scale': scale, 'bias': bias}, 'batch_stats': {'mean': mean, 'var': var}}
  y, updates = module.apply(variables, x, use_running_average=False, mutable=['batch_stats'])
  want_y, want_mean, want_var = _torch_reference(x, mean, var, scale, bias, 0.1, 1e-5)
  np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(updates['batch_stats']['mean'], want_mean, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(updates['batch_stats']['var'], want_var, rtol=1e-6, atol=1e-6)
  # The unbiased factor is what differs from flax.linen.BatchNorm: 24/23 here.
  biased_update = 0.9 * var + 0.1 * x.var(axis=(0, 1, 2))
  assert np.all(np.abs(np.asarray(updates['batch_stats']['var']) - biased_update) > 1e-4)


def test_eval_uses_running_statistics_and_init_leaves_them():
  x = jnp.arange(2 * 2 * 2 * 3, dtype=jnp.float32).reshape(2, 2, 2, 3)
  module = batch_norm.BatchNorm()
  variables = module.init(jax.random.key(0), x, use_running_average=False)
  np.testing.assert_array_equal(variables['batch_stats']['mean'], np.zeros(3))
  np.testing.assert_array_equal(variables['batch_stats']['var'], np.ones(3))
  np.testing.assert_array_equal(variables['params']['scale'], np.ones(3))
  np.testing.assert_array_equal(variables['params']['bias'], np.zeros(3))
  stats = {'mean': jnp.array([1.0, 2.0, 3.0]), 'var': jnp.array([4.0, 1.0, 0.25])}
  y = module.apply({'params': variables['params'], 'batch_stats': stats}, x,
                   use_running_average=True)
  want = (np.asarray(x) - np.array([1.0, 2.0, 3.0])) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-5)
  np.testing.assert_allclose(y, want, rtol=1e-6)


def test_bfloat16_output_with_float32_statistics():
  x = jnp.linspace(-3, 3, 2 * 4 * 4 * 2).reshape(2, 4, 4, 2).astype(jnp.bfloat16)
  module = batch_norm.BatchNorm(dtype=jnp.bfloat16)
  variables = module.init(jax.random.key(0), x, use_running_average=False)
  y, updates = module.apply(variables, x, use_running_average=False, mutable=['batch_stats'])
  assert y.dtype == jnp.bfloat16
  assert updates['batch_stats']['var'].dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(y, np.float32).std(axis=(0, 1, 2)), [1.0, 1.0], atol=2e-2)


def test_single_value_per_channel_is_refused():
  module = batch_norm.BatchNorm()
  with pytest.raises(ValueError, match='more than one value per channel'):
    module.init(jax.random.key(0), jnp.ones((1, 1, 1, 4)), use_running_average=False)


def test_float64_run_keeps_float64_statistics():
  # interop.testing.float64 does the same but imports PyTorch.
  with jax.enable_x64(True):
    x = jnp.linspace(-1.0, 2.0, 2 * 3 * 3 * 4, dtype=jnp.float64).reshape(2, 3, 3, 4)
    module = batch_norm.BatchNorm(dtype=jnp.float64)
    variables = module.init(jax.random.key(0), x, use_running_average=False)
    assert {v.dtype for v in jax.tree_util.tree_leaves(variables['batch_stats'])} == {
        jnp.dtype('float64')}
    y, updates = module.apply(variables, x, use_running_average=False, mutable=['batch_stats'])
    assert y.dtype == jnp.float64
    assert updates['batch_stats']['var'].dtype == jnp.float64
