"""CLUB with a Gaussian variational conditional: an upper bound on I(x; y) to minimise.

Cheng et al., ICML 2020, "CLUB: A Contrastive Log-ratio Upper Bound of Mutual Information":
with q(y | x) fitted to p(y | x) by maximum likelihood,
  CLUB = E_p(x,y)[log q(y | x)] - E_p(x) E_p(y)[log q(y | x)],
estimated on a batch from all N x N pairs (losses.mi_critic.club_upper_bound). Here q is a
diagonal Gaussian N(mu(x), exp(logvar(x))) of two small MLPs, the log-variance squashed by a
tanh as in the authors' code (github.com/Linear95/CLUB), so q's variance lies in [1/e, e]:
x and y are measured in units of a given `scale` (stop-gradiented), without which features
much smaller than 1 could not be fitted and the bound would shrink with their square.

One gradient trains both sides (the same arrangement as losses/mi_critic.py): the bound that
the network minimises is evaluated with q's parameters stop-gradiented, and q's negative
log-likelihood, which only q minimises, on stop-gradiented x and y.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.losses.mi_critic import club_upper_bound


def gaussian_log_likelihoods(mu: jax.Array, logvar: jax.Array, y: jax.Array) -> jax.Array:
  """log N(y_c; mu_a, diag exp(logvar_a)) + D/2 log(2 pi) for every pair: mu, logvar [N, D],
  y [N, D] -> [N (conditioning a), N (value c)]. The constant, which has no gradient and
  cancels in the bound, is left out so that q's logged likelihood shows its fit."""
  squared = (y[None, :, :] - mu[:, None, :]) ** 2 * jnp.exp(-logvar)[:, None, :]
  return -0.5 * jnp.sum(squared + logvar[:, None, :], axis=-1)


class GaussianConditional(nn.Module):
  """q(y | x): x [N, Dx] -> (mu, logvar) [N, Dy], each from its own one-hidden-layer ReLU MLP;
  `frozen` stops its parameters' gradients."""
  hidden: int
  y_features: int

  @nn.compact
  def __call__(self, x: jax.Array, frozen: bool) -> tuple[jax.Array, jax.Array]:
    dx = x.shape[-1]
    def mlp(name):
      return (self.param(f'{name}_hidden_kernel', nn.initializers.lecun_normal(),
                         (dx, self.hidden)),
              self.param(f'{name}_hidden_bias', nn.initializers.zeros, (self.hidden,)),
              self.param(f'{name}_out_kernel', nn.initializers.lecun_normal(),
                         (self.hidden, self.y_features)),
              self.param(f'{name}_out_bias', nn.initializers.zeros, (self.y_features,)))
    params = (mlp('mu'), mlp('logvar'))
    if frozen:
      params = jax.lax.stop_gradient(params)
    apply = lambda w1, b1, w2, b2: jnp.dot(jax.nn.relu(jnp.dot(x, w1) + b1), w2) + b2
    return apply(*params[0]), jnp.tanh(apply(*params[1]))


class GaussianCLUB(nn.Module):
  """`apply({'params': p}, x, y, scale)` -> {'club': the bound (network view), 'nll': q's mean
  negative log-likelihood of the positive pairs (q's own objective, without the constant)};
  x [N, Dx], y [N, Dy]; x and y are divided by stop_gradient(scale) (a scalar or per-feature,
  broadcast to both) before anything else."""
  hidden: int = 64

  @nn.compact
  def __call__(self, x: jax.Array, y: jax.Array, scale=1.0) -> dict[str, jax.Array]:
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
      raise ValueError(f'GaussianCLUB: x and y must be [N, D] with the same N, got {x.shape} '
                       f'and {y.shape}')
    unit = 1.0 / jax.lax.stop_gradient(jnp.asarray(scale, jnp.float32))
    x, y = x.astype(jnp.float32) * unit, y.astype(jnp.float32) * unit
    q = GaussianConditional(self.hidden, y.shape[-1], name='q')
    # q's fit: live parameters, detached samples.
    mu, logvar = q(jax.lax.stop_gradient(x), frozen=False)
    fit_log_q = gaussian_log_likelihoods(mu, logvar, jax.lax.stop_gradient(y))
    _, positive = club_upper_bound(fit_log_q)
    # The bound: frozen parameters, live samples.
    mu, logvar = q(x, frozen=True)
    bound, _ = club_upper_bound(gaussian_log_likelihoods(mu, logvar, y))
    return {'club': bound, 'nll': -positive}
