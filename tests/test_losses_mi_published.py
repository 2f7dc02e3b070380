"""The published MI terms: NumPy recomputation, true-KL mode, PyTorch kl_div, gradient flow."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from famipose_jax import losses

T, ALPHA, BETA = 0.05, 0.5, 0.1
FEATURES = ('key_features', 'aggregated_support', 'fused_features')
DECODED = ('heatmaps', 'decoded_fused', 'decoded_support', 'decoded_key')


@functools.partial(jax.jit, static_argnames='faithful')
def published_mi(outputs, faithful):
  return losses.published_mi(outputs, temperature=T, alpha=ALPHA, beta=BETA, faithful=faithful)


def _outputs(rng, b=2, h=4, w=5, c=3, k=2, scale=0.1):
  out = {name: rng.normal(size=(b, h, w, c)) * scale for name in FEATURES}
  out.update({name: rng.normal(size=(b, h, w, k)) * scale for name in DECODED})
  return out


def _numpy_term(p_maps, q_maps, faithful):
  """PyTorch's layout: [B, C, h*w] rows, softmax over positions, kl_div(input=P, target=Q)."""
  def softmax_rows(maps):
    b, h, w, c = maps.shape
    rows = maps.transpose(0, 3, 1, 2).reshape(b * c, h * w) / T
    rows = np.exp(rows - rows.max(1, keepdims=True))
    return rows / rows.sum(1, keepdims=True)

  p, q = softmax_rows(p_maps), softmax_rows(q_maps)
  if faithful:
    return np.mean(q * (np.log(q) - p))            # P is a probability, as published
  return np.mean(np.sum(q * (np.log(q) - np.log(p)), axis=1))


@pytest.mark.parametrize('faithful', [True, False])
def test_terms_match_numpy_recomputation(faithful):
  rng = np.random.default_rng(0)
  out = _outputs(rng)
  loss, terms = published_mi({k: jnp.asarray(v, jnp.float32) for k, v in out.items()}, faithful)
  want = {
      'mi_1': _numpy_term(out['decoded_fused'], out['heatmaps'], faithful),
      'mi_2': _numpy_term(out['key_features'], out['fused_features'], faithful),
      'mi_3': _numpy_term(out['decoded_support'], out['heatmaps'], faithful),
      'mi_4': _numpy_term(out['aggregated_support'], out['fused_features'], faithful),
      'mi_5': _numpy_term(out['decoded_key'], out['heatmaps'], faithful),
      'mi_6': _numpy_term(out['key_features'], out['fused_features'], faithful),
  }
  assert sorted(terms) == sorted(want)
  for name in want:
    np.testing.assert_allclose(terms[name], want[name], rtol=1e-4, atol=1e-7, err_msg=name)
  combined = ALPHA * (-BETA * want['mi_1'] + BETA * want['mi_2'] + want['mi_3'] - want['mi_4']
                      + want['mi_5'] - want['mi_6'])
  np.testing.assert_allclose(loss, combined, rtol=1e-4, atol=1e-7)


@pytest.mark.filterwarnings('ignore:reduction')
def test_faithful_matches_torch_kl_div():
  torch = pytest.importorskip('torch')
  rng = np.random.default_rng(1)
  p_maps, q_maps = rng.normal(size=(2, 2, 4, 5, 3)) * 0.1
  to_rows = lambda m: torch.tensor(m).permute(0, 3, 1, 2).reshape(6, 20)
  softmax = torch.nn.Softmax(dim=1)
  want = torch.nn.functional.kl_div(input=softmax(to_rows(p_maps) / T),
                                    target=softmax(to_rows(q_maps) / T), reduction='mean')
  got = losses.published_kl(jnp.asarray(p_maps, jnp.float32), jnp.asarray(q_maps, jnp.float32),
                            temperature=T, faithful=True)
  np.testing.assert_allclose(got, want.item(), rtol=1e-4)


def test_true_kl_on_hand_made_distributions():
  # maps = T * log(prob) makes softmax(maps / T) exactly prob. One example, 4 positions (2x2).
  p = np.array([0.5, 0.25, 0.125, 0.125])
  q = np.array([0.25, 0.25, 0.25, 0.25])
  to_maps = lambda prob: jnp.asarray((T * np.log(prob)).reshape(1, 2, 2, 1), jnp.float32)
  # KL(Q || P) = 0.25 * (log 0.5 + log 1 + log 2 + log 2) = 0.25 * log 2.
  got = losses.published_kl(to_maps(p), to_maps(q), temperature=T, faithful=False)
  assert float(got) == pytest.approx(0.25 * np.log(2), rel=1e-5)
  # The published arithmetic on the same pair: mean over positions of q * (log q - p).
  got = losses.published_kl(to_maps(p), to_maps(q), temperature=T, faithful=True)
  assert float(got) == pytest.approx(np.mean(q * (np.log(q) - p)), rel=1e-5)
  # Identical distributions: the true KL is 0.
  same = losses.published_kl(to_maps(q), to_maps(q), temperature=T, faithful=False)
  assert abs(float(same)) < 1e-6


@pytest.mark.parametrize('faithful', [True, False])
def test_gradient_flows_only_into_the_target_side(faithful):
  rng = np.random.default_rng(2)
  out = {k: jnp.asarray(v, jnp.float32) for k, v in _outputs(rng).items()}
  grads = jax.jit(jax.grad(lambda o: published_mi(o, faithful)[0]))(out)
  # Detached inputs (kl_div's `input` side) get exactly zero gradient: the key and the
  # aggregated support features only ever appear there, as do the decoded maps.
  for name in ('key_features', 'aggregated_support', 'decoded_fused', 'decoded_support',
               'decoded_key'):
    np.testing.assert_array_equal(grads[name], 0.0, err_msg=name)
  for name in ('fused_features', 'heatmaps'):
    assert np.abs(np.asarray(grads[name])).max() > 1e-6, name
  # And directly: d/d(source_p) is 0, d/d(source_q) is not.
  gp, gq = jax.jit(jax.grad(
      lambda a, b: losses.published_kl(a, b, temperature=T, faithful=faithful),
      argnums=(0, 1)))(out['fused_features'], out['key_features'])
  np.testing.assert_array_equal(gp, 0.0)
  assert np.abs(np.asarray(gq)).max() > 1e-6


def test_sharp_softmax_underflow_stays_finite():
  # Feature values ~50 at T = 0.05 put most probabilities below float32's range.
  rng = np.random.default_rng(3)
  out = {k: jnp.asarray(v, jnp.float32) for k, v in _outputs(rng, scale=50.0).items()}
  for faithful in (True, False):
    loss, terms = published_mi(out, faithful)
    grads = jax.jit(jax.grad(lambda o: published_mi(o, faithful)[0]))(out)
    assert np.isfinite(float(loss)) and all(np.isfinite(float(v)) for v in terms.values())
    assert all(np.isfinite(np.asarray(g)).all() for g in grads.values())


def test_missing_outputs_are_named():
  with pytest.raises(KeyError, match=r"lack \['key_features', 'aggregated_support'"):
    losses.published_mi({'heatmaps': jnp.zeros((1, 2, 2, 1))}, temperature=T, alpha=ALPHA,
                        beta=BETA, faithful=True)
  with pytest.raises(ValueError, match=r'\(1, 2, 2, 3\) and \(1, 2, 2, 4\)'):
    losses.published_kl(jnp.zeros((1, 2, 2, 3)), jnp.zeros((1, 2, 2, 4)), temperature=T,
                        faithful=True)
