"""What the speed work changed, pinned: same numbers, different compiled structure.

- `blocks.materialize` is the identity (bitwise, gradient included) for every finite value;
- with it, XLA no longer recomputes HRNet's residual stream inside each consumer fusion
  (the largest fusion's operand count, compiled on CPU, pins that);
- the train step's loss, outputs, BatchNorm statistics and gradient (tiny FAMI-Pose, published
  MI) are the same with and without it, to float32 rounding;
- the XLA options are chosen in one place, per backend.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from famipose_jax.runtime import compiler_options
from famipose_jax import heads
from famipose_jax import models
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import inputs as pixels
from famipose_jax.models import registry
from famipose_jax.interop import testing
from famipose_jax.models import blocks


def test_materialize_is_the_identity_on_finite_values_and_in_its_gradient():
  tiny = np.finfo(np.float32).smallest_subnormal
  values = jnp.asarray([0.0, -0.0, tiny, -tiny, 1e-38, -2.5, 1.0, 3.4e38, -3.4e38], jnp.float32)
  out = np.asarray(jax.jit(blocks.materialize)(values))
  np.testing.assert_array_equal(out.view(np.uint32), np.asarray(values).view(np.uint32))
  grad = jax.grad(lambda v: jnp.sum(blocks.materialize(v) * 3.0))(values)
  np.testing.assert_array_equal(np.asarray(grad), np.full(values.shape, 3.0, np.float32))
  bf16 = jnp.asarray([0.5, -7.0, 1e-30], jnp.bfloat16)
  assert jnp.array_equal(blocks.materialize(bf16), bf16)


def _largest_fusion_operands(compiled_text: str) -> int:
  """The most parameters of any fused computation in an optimised HLO module."""
  counts = [len(re.findall(r'param_\d+(?:\.\d+)?: ', line))
            for line in compiled_text.splitlines() if line.startswith('%fused')]
  return max(counts)


def _tiny_backbone_forward_text(monkeypatch, materialize: bool) -> str:
  if not materialize:
    monkeypatch.setattr(blocks, 'materialize', lambda x: x)
  config = config_defaults.with_family(testing.tiny_config(), 'single_frame').model
  model = models.build_model(config)
  x = jnp.zeros((2, 96, 64, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  apply = lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats'])
  return jax.jit(apply).lower(variables, x).compile().as_text()


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='pins XLA:CPU fusion decisions')
def test_residual_stream_is_not_recomputed_in_consumer_fusions(monkeypatch):
  # Measured on the tiny HRNet (jax 0.10.2): 21 with materialize, 51 without. On W48 the
  # largest fusion had 255 operands before and 21 after (bench/profile_step.py).
  with_it = _largest_fusion_operands(_tiny_backbone_forward_text(monkeypatch, True))
  without = _largest_fusion_operands(_tiny_backbone_forward_text(monkeypatch, False))
  assert with_it <= 30 < without, (with_it, without)


def _tiny_model_and_batch():
  config = testing.tiny_config()
  config.data.supporting_offsets = (-1, 1, 2)
  model = models.build_model(config.model)
  rng = np.random.default_rng(0)
  batch = {'key_image': rng.integers(0, 256, (2, 96, 64, 3), np.uint8),
           'supporting_images': rng.integers(0, 256, (2, 3, 96, 64, 3), np.uint8),
           'heatmap': rng.random((2, 24, 16, 17)).astype(np.float32),
           'target_weight': np.ones((2, 17), np.float32)}
  variables = jax.jit(model.init)(jax.random.key(0), *pixels.network_inputs(batch, config))
  return config, model, variables, batch


def _loss_outputs_and_gradient(config, model, variables, batch):
  """The train step's loss (task + published MI), outputs, BN statistics and gradient."""
  def loss_fn(params):
    outputs, updated = model.apply({'params': params, 'batch_stats': variables['batch_stats']},
                                   *pixels.network_inputs(batch, config), train=True,
                                   mutable=['batch_stats'])
    objective = registry.of(config).objective(config)
    loss = (heads.build_head(config).loss(outputs, batch)
            + objective.compute(outputs, batch, {})[0])
    return loss, (outputs, updated['batch_stats'])
  step = compiler_options.jit(jax.value_and_grad(loss_fn, has_aux=True))
  return jax.device_get(step(variables['params']))


@pytest.mark.slow
def test_outputs_and_gradients_unchanged_by_materialize(monkeypatch):
  """Whole graph with and without materialize: the same values to float32 rounding (the
  fusions differ, so XLA may sum some reductions in another order; on near-zero gradient
  leaves that rounding is all there is, hence the bound on the largest gradient's scale)."""
  config, model, variables, batch = _tiny_model_and_batch()
  (loss, (outputs, stats)), grads = _loss_outputs_and_gradient(config, model, variables, batch)
  monkeypatch.setattr(blocks, 'materialize', lambda x: x)
  (ref_loss, (ref_outputs, ref_stats)), ref_grads = _loss_outputs_and_gradient(
      config, model, variables, batch)
  assert np.isfinite(loss) and loss != 0
  np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
  for name in outputs:
    scale = float(np.max(np.abs(ref_outputs[name])))
    np.testing.assert_allclose(outputs[name], ref_outputs[name], rtol=1e-5, atol=1e-6 * scale,
                               err_msg=name)
  for got, want in zip(jax.tree_util.tree_leaves(stats), jax.tree_util.tree_leaves(ref_stats)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  largest = max(float(np.max(np.abs(g))) for g in jax.tree_util.tree_leaves(ref_grads))
  assert largest > 0
  for (path, got), want in zip(jax.tree_util.tree_leaves_with_path(grads),
                               jax.tree_util.tree_leaves(ref_grads)):
    leaf_scale = float(np.max(np.abs(want)))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * leaf_scale + 1e-6 * largest,
                               err_msg=jax.tree_util.keystr(path))


def test_compiler_options_per_backend(monkeypatch):
  monkeypatch.delenv(compiler_options.DEFAULTS_ENV, raising=False)
  assert compiler_options.for_backend('cpu') == {
      'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_REDUCE'}
  assert compiler_options.for_backend('gpu') == {}
  assert compiler_options.for_backend('tpu') == {}
  monkeypatch.setenv(compiler_options.DEFAULTS_ENV, '1')
  assert compiler_options.for_backend('cpu') == {}


def test_compiler_options_reach_the_compiled_step():
  # XLA accepts the option (a misspelt one is an error at compile time) and computes the same.
  f = compiler_options.jit(lambda x: jnp.tanh(x) * 2.0)
  x = jnp.linspace(-2.0, 2.0, 7)
  np.testing.assert_allclose(np.asarray(f(x)), np.asarray(jax.jit(lambda x: jnp.tanh(x) * 2.0)(x)),
                             rtol=0, atol=1e-6)   # two programs: equal to float32 rounding


def test_reductions_run_in_ynnpack_and_convolutions_in_xla(monkeypatch):
  """On XLA:CPU our steps hand reductions (BatchNorm's statistics) to YNNPACK, not convolutions."""
  if jax.default_backend() != 'cpu':
    pytest.skip('XLA:CPU options')
  monkeypatch.delenv(compiler_options.DEFAULTS_ENV, raising=False)

  def conv_then_mean(x, w):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return jnp.mean(y, axis=(0, 1, 2)), y

  x, w = jnp.ones((2, 24, 16, 8)), jnp.ones((3, 3, 8, 8))
  hlo = compiler_options.jit(conv_then_mean).lower(x, w).compile().as_text()
  entry = hlo.split('ENTRY', 1)[1]
  assert ' convolution(' in entry          # XLA's own convolution, not inside a library fusion
  assert 'ynn_fusion' in entry and 'reduce-window' not in hlo
