"""The variational MI estimators: bound arithmetic, Gaussians with known MI, the critic module."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn

from famipose_jax import losses
from famipose_jax.losses import mi_critic

infonce = jax.jit(losses.infonce_lower_bound)
club = jax.jit(losses.club_upper_bound)


def test_infonce_pinned_number_and_log_n_ceiling():
  # Two anchors, critic log 3 on the positive pair, 0 elsewhere:
  # log 3 - log((3 + 1) / 2) = log(3 / 2) for both anchors.
  s = np.log(3.0)
  scores = jnp.array([[s, 0.0], [0.0, s]])
  assert float(infonce(scores)) == pytest.approx(np.log(1.5), rel=1e-6)
  # Whatever the scores, the estimate never exceeds log(number of candidates): per joint, with
  # invisible examples removed from anchors and candidates.
  rng = np.random.default_rng(0)
  big = jnp.asarray(rng.normal(size=(6, 6, 3)) * 5 + 100 * np.eye(6)[..., None], jnp.float32)
  valid = jnp.asarray(np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0],
                                [1, 1, 1]], bool))
  assert float(infonce(big[..., :1])) <= np.log(6) + 1e-5
  assert float(infonce(big[..., :1])) == pytest.approx(np.log(6), abs=1e-4)
  # Joint 1 has 4 valid examples (ceiling log 4), joint 2 one (contributes 0): the anchor-
  # weighted mean is (6 log 6 + 4 log 4 + 0) / 11 with near-perfect critics.
  want = (6 * np.log(6) + 4 * np.log(4)) / 11
  assert float(infonce(big, valid)) == pytest.approx(want, abs=1e-4)


def test_club_pinned_number():
  log_q = jnp.array([[-1.0, -5.0], [-3.0, -2.0]])
  ub, positive = club(log_q)
  assert float(positive) == pytest.approx(-1.5)
  assert float(ub) == pytest.approx(-1.5 - (-11.0 / 4))
  # With example 1 invalid only the (0, 0) pair remains: the bound is 0.
  ub, _ = club(log_q, jnp.array([True, False]))
  assert float(ub) == pytest.approx(0.0)


# ---- correlated Gaussians: I(x; y) = -0.5 * D * log(1 - rho^2) ----
D, N, STEPS = 2, 128, 200


class SeparableCritic(nn.Module):
  """f(x, y) = g(x) . h(y): N x N scores for the cost of 2N MLP evaluations."""

  @nn.compact
  def __call__(self, x, y):
    g = nn.Dense(32)(nn.relu(nn.Dense(32)(x)))
    h = nn.Dense(32)(nn.relu(nn.Dense(32)(y)))
    return g @ h.T


class GaussianConditional(nn.Module):
  """log q(y_c | x_a) for q(y | x) = N(mu(x), diag exp(logvar(x)))."""

  @nn.compact
  def __call__(self, x, y):
    h = nn.relu(nn.Dense(32)(x))
    mu, logvar = nn.Dense(D)(h), nn.Dense(D)(h)
    d = y[None] - mu[:, None]
    return jnp.sum(-0.5 * (d ** 2 * jnp.exp(-logvar[:, None]) + logvar[:, None]
                           + jnp.log(2 * jnp.pi)), axis=-1)


def _gaussian_pairs(key, rho, n):
  kx, ke = jax.random.split(key)
  x = jax.random.normal(kx, (n, D))
  return x, rho * x + jnp.sqrt(1 - rho ** 2) * jax.random.normal(ke, (n, D))


@jax.jit
def _train_and_estimate(rho, key):
  """Trains both estimators on fresh batches; returns their mean on 8 held-out batches."""
  nce, q = SeparableCritic(), GaussianConditional()
  x, y = _gaussian_pairs(key, rho, N)
  params = {'nce': nce.init(key, x, y), 'q': q.init(key, x, y)}
  tx = optax.adam(1e-2)

  def objective(p, x, y):   # each critic maximises what it should: InfoNCE / log-likelihood
    _, log_likelihood = losses.club_upper_bound(q.apply(p['q'], x, y))
    return -losses.infonce_lower_bound(nce.apply(p['nce'], x, y)) - log_likelihood

  def step(carry, k):
    p, state = carry
    updates, state = tx.update(jax.grad(objective)(p, *_gaussian_pairs(k, rho, N)), state)
    return (optax.apply_updates(p, updates), state), None

  (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, STEPS))

  def estimate(k):
    x, y = _gaussian_pairs(k, rho, N)
    return (losses.infonce_lower_bound(nce.apply(params['nce'], x, y)),
            losses.club_upper_bound(q.apply(params['q'], x, y))[0])

  lower, upper = jax.vmap(estimate)(jax.random.split(jax.random.key(99), 8))
  return lower.mean(), upper.mean()


def test_estimators_on_correlated_gaussians():
  rho = 0.8
  true_mi = -0.5 * D * np.log(1 - rho ** 2)                      # 1.022 nats
  lower, upper = (float(v) for v in _train_and_estimate(rho, jax.random.key(0)))
  lower0, upper0 = (float(v) for v in _train_and_estimate(0.0, jax.random.key(1)))
  # InfoNCE: a lower bound (up to estimation noise), at most log N, and informative.
  assert 0.6 * true_mi < lower <= true_mi + 0.05
  assert lower < np.log(N)
  # CLUB: above the true MI (for the exact Gaussian conditional it is D rho^2 / (1 - rho^2)).
  assert upper >= true_mi
  # Independent pairs: both near 0; correlated ranked above independent by both.
  assert abs(lower0) < 0.05 and abs(upper0) < 0.1
  assert lower > lower0 + 0.5 and upper > upper0 + 0.5


# ---- the critic module on feature maps ----
B, H, W, K, C = 8, 8, 8, 2, 4


def _synthetic(seed, informative=True):
  """Fused features that contain the joint heatmaps; key and support features that are noise."""
  rng = np.random.default_rng(seed)
  loc = rng.uniform(0, [H - 1, W - 1], size=(B, K, 2))
  yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing='ij')
  heatmap = np.exp(-((yy[None, :, :, None] - loc[:, None, None, :, 0]) ** 2
                     + (xx[None, :, :, None] - loc[:, None, None, :, 1]) ** 2) / 2)
  weight = (rng.uniform(size=(B, K)) > 0.15).astype(np.float32)
  noise = lambda c: rng.normal(size=(B, H, W, c))
  signal = heatmap * 2 + 0.1 * noise(K) if informative else noise(K)
  outputs = {'fused_features': np.concatenate([signal, noise(C - K)], -1),
             'key_features': noise(C), 'aggregated_support': noise(C)}
  batch = {'heatmap': heatmap, 'target_weight': weight}
  f32 = lambda tree: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), tree)
  return f32(outputs), f32(batch)


CRITIC = losses.MutualInformationCritic(num_joints=K, hidden=32, network_weight=0.01,
                                        fit_weight=1.0)


@functools.lru_cache(maxsize=None)
def _initial_params():
  return jax.jit(CRITIC.init)(jax.random.key(0), *_synthetic(0))['params']


def test_one_gradient_trains_critics_and_network_separately():
  params = _initial_params()
  outputs, batch = _synthetic(1)
  apply = lambda p, o, method=None: CRITIC.apply({'params': p}, o, batch, method=method)
  network = lambda p, o: apply(p, o, lambda m, o, b: m.network_objective(o, b)[0])
  fit = lambda p, o: apply(p, o, lambda m, o, b: m.fit_objective(o, b))

  @jax.jit
  def all_grads(p, o):
    total = jax.grad(lambda p, o: apply(p, o)[0], argnums=(0, 1))(p, o)
    return total, jax.grad(network, argnums=(0, 1))(p, o), jax.grad(fit, argnums=(0, 1))(p, o)

  (total_p, total_o), (net_p, net_o), (fit_p, fit_o) = all_grads(params, outputs)
  leaves = jax.tree_util.tree_leaves
  # The network objective reaches no critic parameter; the critics' objective no feature.
  assert all(np.all(np.asarray(g) == 0) for g in leaves(net_p))
  assert all(np.all(np.asarray(g) == 0) for g in leaves(fit_o))
  # So the single gradient is the critics' gradient on critic params ...
  for got, want in zip(leaves(total_p), leaves(fit_p)):
    np.testing.assert_allclose(got, CRITIC.fit_weight * np.asarray(want), rtol=1e-5, atol=1e-7)
  assert max(float(jnp.abs(g).max()) for g in leaves(total_p)) > 1e-4
  # ... and the network's gradient on the features.
  for name in outputs:
    np.testing.assert_allclose(total_o[name], CRITIC.network_weight * np.asarray(net_o[name]),
                               rtol=1e-5, atol=1e-9)
  # The key features are the conditioning variable: no gradient at all.
  np.testing.assert_array_equal(total_o['key_features'], 0.0)
  assert float(jnp.abs(total_o['fused_features']).max()) > 0
  assert float(jnp.abs(total_o['aggregated_support']).max()) > 0


def test_invisible_joints_do_not_enter_the_estimates():
  params = _initial_params()
  outputs, batch = _synthetic(2)
  batch['target_weight'] = batch['target_weight'].at[3, 1].set(0.0)
  scrambled = dict(batch, heatmap=batch['heatmap'].at[3, :, :, 1].set(
      jnp.asarray(np.random.default_rng(3).uniform(size=(H, W)), jnp.float32)))
  run = jax.jit(lambda b: CRITIC.apply({'params': params}, outputs, b))
  (loss_a, terms_a), (loss_b, terms_b) = run(batch), run(scrambled)
  assert float(loss_a) == float(loss_b)
  for name in terms_a:
    assert float(terms_a[name]) == float(terms_b[name]), name


def test_critics_learn_to_rank_informative_features_above_noise():
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, state, outputs, batch):
    grads = jax.grad(lambda p: CRITIC.apply({'params': p}, outputs, batch)[0])(params)
    updates, state = tx.update(grads, state)
    return optax.apply_updates(params, updates), state

  params = _initial_params()
  state = tx.init(params)
  for seed in range(150):          # features held fixed: only the critics learn
    params, state = step(params, state, *_synthetic(100 + seed))
  evaluate = jax.jit(lambda p, o, b: CRITIC.apply({'params': p}, o, b)[1])
  terms = [evaluate(params, *_synthetic(1000 + seed)) for seed in range(4)]
  mean = {name: np.mean([float(t[name]) for t in terms]) for name in terms[0]}
  # The fused features locate the joints; the key features are noise.
  assert mean['lb_fused'] > 1.0 and abs(mean['lb_key']) < 0.2
  assert mean['cmi_fused_given_key'] > 0.8
  assert mean['lb_fused'] <= np.log(B)
  # CLUB on (key, fused) sees the fused information: an upper bound above the lower bound.
  assert mean['ub_key_fused'] > mean['lb_fused'] - 0.1
  # Trained CLUB models fit: their NLL fell below the uniform-location NLL log(H * W).
  assert mean['nll_key_fused'] < np.log(H * W) - 0.5


def test_inputs_are_checked():
  params = _initial_params()
  outputs, batch = _synthetic(4)
  with pytest.raises(KeyError, match=r"lack \['aggregated_support'\]"):
    CRITIC.apply({'params': params}, {k: v for k, v in outputs.items()
                                      if k != 'aggregated_support'}, batch)
  with pytest.raises(KeyError, match=r"needs 'heatmap'"):
    CRITIC.apply({'params': params}, outputs, {'target_weight': batch['target_weight']})
  with pytest.raises(ValueError, match=r"'heatmap' \(8, 4, 4, 2\) must have the feature maps' "
                     r'spatial size \(8, 8\)'):
    CRITIC.apply({'params': params}, outputs, dict(batch, heatmap=jnp.zeros((B, 4, 4, K))))


def test_build_from_config():
  from configs import posetrack17
  config = posetrack17.get_config()
  assert losses.build_mi_critic(config.model.famipose, 17) is None   # published MI by default
  config.model.famipose.mi = 'critic'
  critic = losses.build_mi_critic(config.model.famipose, 17)
  assert isinstance(critic, mi_critic.MutualInformationCritic)
  assert (critic.num_joints, critic.hidden, critic.network_weight, critic.term_weights,
          critic.fit_weight) == (17, 64, 1e-3, (1.0, 1.0, 1.0), 1.0)
