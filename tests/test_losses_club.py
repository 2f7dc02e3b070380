"""CLUB (losses/club.py) on Gaussians of known mutual information, and TDMI's RDM under it.

For x, y in R^d with unit variances and correlation rho per dimension (independent dimensions),
I(x; y) = -d/2 log(1 - rho^2), and CLUB with the exact conditional q(y | x) = N(rho x, 1 - rho^2)
is d rho^2 / (1 - rho^2): the bound's expected slack over the true value is the difference.
"""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from famipose_jax.losses import club
from famipose_jax.losses import mi_published
from famipose_jax.models.tdmi import disentanglement
from famipose_jax.models.tdmi import family
from famipose_jax.models.tdmi import objective

DIMS = 4


def _correlated(key, n, rho):
  kx, ke = jax.random.split(key)
  x = jax.random.normal(kx, (n, DIMS))
  return x, rho * x + math.sqrt(1 - rho ** 2) * jax.random.normal(ke, (n, DIMS))


def _train(params, loss_fn, steps, learning_rate=1e-2):
  """Adam on loss_fn(params, key) -> (loss, aux), a fresh key (batch) per step."""
  tx = optax.adam(learning_rate)

  @jax.jit
  def step(params, opt_state, key):
    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, key)
    updates, opt_state = tx.update(grads, opt_state)
    return optax.apply_updates(params, updates), opt_state, aux
  opt_state = tx.init(params)
  for i in range(steps):
    params, opt_state, _ = step(params, opt_state, jax.random.key(100 + i))
  return params


def _fitted(rho, scale=1.0, given_scale=1.0):
  """The bound on held-out samples of x, y (times `scale`) after fitting q on such samples."""
  estimator = club.GaussianCLUB(32)
  sample = lambda key, n: tuple(v * scale for v in _correlated(key, n, rho))
  params = estimator.init(jax.random.key(1), *sample(jax.random.key(0), 256),
                          given_scale)['params']

  def fit(params, key):
    return estimator.apply({'params': params}, *sample(key, 256), given_scale)['nll'], None
  params = _train(params, fit, 500)
  return float(estimator.apply({'params': params}, *sample(jax.random.key(7), 4096),
                               given_scale)['club'])


@pytest.mark.parametrize('rho, scale', [(0.0, 1.0), (0.6, 1.0), (0.6, 0.05)])
def test_club_is_an_upper_bound_with_its_expected_slack(rho, scale):
  """At any feature scale, given that scale (TDMI gives the pooled motion feature's spread)."""
  bound = _fitted(rho, scale, given_scale=scale)
  true_mi = -DIMS / 2 * math.log(1 - rho ** 2)
  exact_club = DIMS * rho ** 2 / (1 - rho ** 2)
  assert bound >= true_mi - 0.05
  assert abs(bound - exact_club) < 0.05 + 0.05 * exact_club, (bound, exact_club, true_mi)


def test_without_the_scale_small_features_escape_the_bound():
  """Why the scale is given: q's variance is at least 1/e, so features of spread 0.05 cannot be
  fitted and the estimate falls far below the true 0.893 nats."""
  assert _fitted(0.6, 0.05) < 0.1


def test_the_bound_trains_only_the_samples_and_the_likelihood_only_q():
  estimator = club.GaussianCLUB(8)
  x, y = _correlated(jax.random.key(0), 16, 0.5)
  params = estimator.init(jax.random.key(1), x, y)['params']
  term = lambda name: jax.grad(lambda p, x, y: estimator.apply({'params': p}, x, y)[name],
                               argnums=(0, 1, 2))(params, x, y)
  bound_grads, nll_grads = term('club'), term('nll')
  norm = lambda tree: sum(float(jnp.sum(g ** 2)) for g in jax.tree_util.tree_leaves(tree))
  assert norm(bound_grads[0]) == 0 and norm(bound_grads[1]) > 0 and norm(bound_grads[2]) > 0
  assert norm(nll_grads[0]) > 0 and norm(nll_grads[1]) == 0 and norm(nll_grads[2]) == 0


def test_minimising_it_drives_the_gated_branches_apart():
  """The RDM's two channel gates on M (8 independent channels, pooled = M here), trained only
  by TDMI's objective (CLUB + the reconstruction guard): from two overlapping halves of M to
  a partition of its channels."""
  own = family.section()
  own.mi_weight, own.rdm_reconstruction_weight, own.club_hidden = 1.0, 1.0, 32
  rdm = disentanglement.Disentanglement('channel', 16)
  mi = objective.ClubObjective(ml_collections.FrozenConfigDict(own))
  sample = lambda key, n=256: jax.random.normal(key, (n, 1, 1, 8))

  def branches(params, motion):
    return {'motion_features': motion, **rdm.apply({'params': params['rdm']}, motion)}
  motion = sample(jax.random.key(0))
  rdm_params = rdm.init(jax.random.key(1), motion)['params']
  params = {'rdm': rdm_params, 'q': mi.init(jax.random.key(2), branches(
      {'rdm': rdm_params}, motion), {})['params']}

  def loss(params, key):
    return mi.apply({'params': params['q']}, branches(params, sample(key)), {})
  held_out = sample(jax.random.key(9), 2048)
  overlap = lambda out: float(jnp.mean(jnp.minimum(out['useful_gate'], out['noisy_gate'])))
  before = branches(params, held_out)
  params = _train(params, loss, 600)
  after = branches(params, held_out)
  assert overlap(before) > 0.4 and overlap(after) < 0.01
  assert objective.reconstruction_error(after) < 0.01
  gate_sum = np.asarray(after['useful_gate'] + after['noisy_gate'])
  assert np.abs(gate_sum - 1).mean() < 0.02


def test_the_trivial_partition_costs_nothing():
  """Useful gate 1, noisy gate 0: the bound (to rounding) and the guard are 0 (the objective
  cannot tell this split from one of a motion feature without noise; docs/tdmi.md)."""
  own = family.section()
  motion = jax.random.normal(jax.random.key(0), (8, 3, 3, 4))
  outputs = {'motion_features': motion, 'useful_motion': motion,
             'noisy_motion': jnp.zeros_like(motion), 'useful_gate': jnp.ones((8, 1, 1, 4)),
             'noisy_gate': jnp.zeros((8, 1, 1, 4))}
  mi = objective.ClubObjective(ml_collections.FrozenConfigDict(own))
  params = mi.init(jax.random.key(1), outputs, {})['params']
  _, terms = mi.apply({'params': params}, outputs, {})
  assert abs(float(terms['club'])) < 1e-6 and float(terms['reconstruction']) == 0.0


@pytest.mark.parametrize('detach_p', [True, False])
def test_the_published_term_keeps_ps_gradient_only_when_asked(detach_p):
  p = jax.random.normal(jax.random.key(0), (2, 3, 3, 4))
  q = jax.random.normal(jax.random.key(1), (2, 3, 3, 4))
  grad_p = jax.grad(lambda p: mi_published.published_kl(
      p, q, temperature=0.05, faithful=True, detach_p=detach_p))(p)
  assert (float(jnp.abs(grad_p).max()) == 0.0) == detach_p
