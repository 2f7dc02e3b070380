"""A learned mutual-information objective for the paper's goal, with critic networks.

The paper asks to maximise I(y; Z~ | Z_t) and minimise I(y; Z_{t+d} | Z~) + I(y; Z_t | Z~), with
y the key frame's pose label, Z_t the key features, Z_{t+d} the aggregated supporting features
and Z~ the fused features. By the chain rule I(y; A | B) = I(y; A, B) - I(y; B), so:

  I(y; Z~ | Z_t)        = I(y; Z~, Z_t) - I(y; Z_t); Z_t comes from the frozen backbone and is
                          treated as given (stop-gradient), so the network maximises an
                          InfoNCE lower bound on I(y; Z~, Z_t).
  I(y; Z_{t+d} | Z~)   <= CLUB(y; Z_{t+d}, Z~) - InfoNCE(y; Z~)   (upper minus lower bound)
  I(y; Z_t | Z~)       <= CLUB(y; Z_t, Z~) - InfoNCE(y; Z~)

y is handled one joint at a time: the label of joint k is its target heatmap normalised to a
distribution over the h * w positions (a soft location). Every critic is a small per-pixel MLP
("score head") on the (concatenated) feature maps giving one score map per joint, s_k(b, p):
  InfoNCE critic  f(x_b, y_d) = sum_p y_{d,k}(p) s_k(b, p)  (score map pooled by the label),
  CLUB model      log q(y_d | x_b) = sum_p y_{d,k}(p) log_softmax_p s_k(b, p),
so each B x B pair matrix costs one [B, h*w, K] x [B, h*w, K] contraction. Invisible joints
(target_weight 0 or an empty heatmap) are neither anchors nor candidates.

One gradient trains everything: the network part evaluates the heads with stop-gradiented
parameters on live features; the fitting part evaluates them with live parameters on
stop-gradiented features (InfoNCE critics maximise their bounds, CLUB models maximise the
log-likelihood of the positive pairs). See docs/mutual_information.md.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

_NEG = -1e30   # finite "minus infinity" for masked logits (keeps gradients NaN-free)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def infonce_lower_bound(scores: jax.Array, valid: jax.Array | None = None) -> jax.Array:
  """InfoNCE estimate of I(x; y) from critic scores, a lower bound at most log(N).

  Args:
    scores: [N, N, ...] with scores[a, c] = f(x_a, y_c): anchors on axis 0, candidate labels
      on axis 1 (the positive pair is the diagonal); trailing axes are independent problems
      (joints), each with its own candidate set.
    valid: [N, ...] bool, which examples take part (default all).

  Returns:
    Mean over valid anchors of f(x_a, y_a) - log mean_{valid c} exp f(x_a, y_c).
  """
  n = scores.shape[0]
  if valid is None:
    valid = jnp.ones((n,) + scores.shape[2:], bool)
  masked = jnp.where(valid[None], scores, _NEG)
  log_count = jnp.log(jnp.maximum(jnp.sum(valid, axis=0), 1).astype(scores.dtype))
  positive = jnp.diagonal(scores, axis1=0, axis2=1)
  positive = jnp.moveaxis(positive, -1, 0)                                  # [N, ...]
  per_anchor = positive - jax.nn.logsumexp(masked, axis=1) + log_count
  return _masked_mean(per_anchor, valid)


def club_upper_bound(log_q: jax.Array, valid: jax.Array | None = None):
  """CLUB estimate (Cheng et al. 2020) of I(x; y) from a variational log q(y | x).

  Args:
    log_q: [N, N, ...] with log_q[a, c] = log q(y_c | x_a); diagonal = positive pairs.
    valid: [N, ...] bool (default all).

  Returns:
    (upper bound, positive log-likelihood): E_p(x,y) log q(y|x) - E_p(x)p(y) log q(y|x), an
    upper bound on I(x; y) when q fits p(y | x); and the mean positive log-likelihood (what the
    model q maximises to fit).
  """
  n = log_q.shape[0]
  if valid is None:
    valid = jnp.ones((n,) + log_q.shape[2:], bool)
  positive = jnp.moveaxis(jnp.diagonal(log_q, axis1=0, axis2=1), -1, 0)
  positive = _masked_mean(positive, valid)
  negative = _masked_mean(log_q, valid[:, None] & valid[None, :])
  return positive - negative, positive


def _channel_normalise(x: jax.Array) -> jax.Array:
  mean = jnp.mean(x, axis=-1, keepdims=True)
  var = jnp.var(x, axis=-1, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + 1e-5)


class ScoreHead(nn.Module):
  """Per-pixel MLP [B, h, w, C] -> [B, h*w, K] scores; `frozen` stops its parameter gradients."""
  hidden: int
  num_joints: int

  @nn.compact
  def __call__(self, features: jax.Array, frozen: bool) -> jax.Array:
    b, h, w, c = features.shape
    params = (
        self.param('hidden_kernel', nn.initializers.lecun_normal(), (c, self.hidden)),
        self.param('hidden_bias', nn.initializers.zeros, (self.hidden,)),
        self.param('out_kernel', nn.initializers.lecun_normal(), (self.hidden, self.num_joints)),
        self.param('out_bias', nn.initializers.zeros, (self.num_joints,)),
    )
    if frozen:
      params = jax.lax.stop_gradient(params)
    w1, b1, w2, b2 = params
    x = _channel_normalise(features.reshape(b, h * w, c).astype(jnp.float32))
    return jnp.dot(jax.nn.relu(jnp.dot(x, w1) + b1), w2) + b2


def label_distributions(batch: dict[str, jax.Array], spatial: tuple[int, int]):
  """Normalised per-joint label maps [B, h*w, K] and which joints are usable [B, K]."""
  if 'heatmap' not in batch or 'target_weight' not in batch:
    raise KeyError("MutualInformationCritic: the batch needs 'heatmap' [B, h, w, K] and "
                   f"'target_weight' [B, K]; got {sorted(batch)}")
  heatmap = batch['heatmap'].astype(jnp.float32)
  b, h, w, k = heatmap.shape
  if (h, w) != tuple(spatial):
    raise ValueError(f"MutualInformationCritic: batch 'heatmap' {heatmap.shape} must have the "
                     f'feature maps\' spatial size {tuple(spatial)}')
  heatmap = heatmap.reshape(b, h * w, k)
  mass = jnp.sum(heatmap, axis=1)                                            # [B, K]
  valid = (batch['target_weight'].reshape(b, k) > 0) & (mass > 1e-6)
  labels = heatmap / jnp.maximum(mass, 1e-6)[:, None, :] * valid[:, None, :]
  return labels, valid


def _pairs(maps: jax.Array, labels: jax.Array) -> jax.Array:
  """[B, P, K] per-example maps x [B, P, K] labels -> [B (maps), B (labels), K]."""
  return jnp.einsum('apk,cpk->ack', maps, labels)


REQUIRED_OUTPUTS = ('key_features', 'aggregated_support', 'fused_features')


class MutualInformationCritic(nn.Module):
  """Variational MI objective; `apply({'params': p}, outputs, batch)` -> (loss, terms).

  Attributes:
    num_joints: K.
    hidden: width of every score head's hidden layer (config loss.mi_critic_hidden).
    network_weight: scale of the network's MI objective in the loss (loss.mi_critic_weight).
    term_weights: weights of (max I(y; Z~|Z_t), min I(y; Z_{t+d}|Z~), min I(y; Z_t|Z~))
      (loss.mi_critic_term_weights).
    fit_weight: scale of the critics' own objective (loss.mi_critic_fit_weight); it reaches
      only critic parameters.
  """
  num_joints: int
  hidden: int = 64
  network_weight: float = 1e-3
  term_weights: Sequence[float] = (1.0, 1.0, 1.0)
  fit_weight: float = 1.0

  def setup(self):
    head = lambda: ScoreHead(self.hidden, self.num_joints)
    self.nce_fused_key = head()        # InfoNCE critic for I(y; Z~, Z_t)
    self.nce_fused = head()            # InfoNCE critic for I(y; Z~)
    self.nce_key = head()              # InfoNCE critic for I(y; Z_t) (monitoring)
    self.club_support_fused = head()   # q(y | Z_{t+d}, Z~) for CLUB
    self.club_key_fused = head()       # q(y | Z_t, Z~) for CLUB

  def _estimates(self, outputs, batch, frozen: bool):
    """Every bound, with heads frozen (network view) or features detached (critic view)."""
    missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
    if missing:
      raise KeyError(f'MutualInformationCritic: model outputs lack {missing} (temporal mode '
                     f'is required); got {sorted(outputs)}')
    fused = outputs['fused_features']
    support = outputs['aggregated_support']
    key = jax.lax.stop_gradient(outputs['key_features'])   # the conditioning variable
    if not frozen:
      fused, support = jax.lax.stop_gradient((fused, support))
    labels, valid = label_distributions(batch, fused.shape[1:3])

    def nce(head, features):
      return infonce_lower_bound(_pairs(head(features, frozen), labels), valid)

    def club(head, features):
      log_q = jax.nn.log_softmax(head(features, frozen), axis=1)
      return club_upper_bound(_pairs(log_q, labels), valid)

    ub_support, ll_support = club(self.club_support_fused, jnp.concatenate([support, fused], -1))
    ub_key, ll_key = club(self.club_key_fused, jnp.concatenate([key, fused], -1))
    return {
        'lb_fused_key': nce(self.nce_fused_key, jnp.concatenate([fused, key], -1)),
        'lb_fused': nce(self.nce_fused, fused),
        'lb_key': nce(self.nce_key, key),
        'ub_support_fused': ub_support,
        'ub_key_fused': ub_key,
        'nll_support_fused': -ll_support,
        'nll_key_fused': -ll_key,
    }

  def network_objective(self, outputs, batch):
    """What the network minimises (critics fixed), and the estimates it is made of."""
    e = self._estimates(outputs, batch, frozen=True)
    w_keep, w_support, w_key = self.term_weights
    objective = (-w_keep * e['lb_fused_key']
                 + w_support * (e['ub_support_fused'] - e['lb_fused'])
                 + w_key * (e['ub_key_fused'] - e['lb_fused']))
    return objective, e

  def fit_objective(self, outputs, batch):
    """What the critics minimise (features fixed): -InfoNCE bounds + CLUB models' NLL."""
    e = self._estimates(outputs, batch, frozen=False)
    return (-(e['lb_fused_key'] + e['lb_fused'] + e['lb_key'])
            + e['nll_support_fused'] + e['nll_key_fused'])

  def __call__(self, outputs: dict[str, jax.Array], batch: dict[str, jax.Array]):
    network, e = self.network_objective(outputs, batch)
    fit = self.fit_objective(outputs, batch)
    loss = self.network_weight * network + self.fit_weight * fit
    terms = dict(e)
    terms.update({
        'cmi_fused_given_key': e['lb_fused_key'] - e['lb_key'],
        'cmi_support_given_fused': e['ub_support_fused'] - e['lb_fused'],
        'cmi_key_given_fused': e['ub_key_fused'] - e['lb_fused'],
        'network_objective': network,
        'fit_objective': fit,
    })
    return loss, terms


def build_mi_critic(loss_config: ml_collections.ConfigDict,
                    num_joints: int) -> MutualInformationCritic | None:
  """The critic module when loss_config.mi == 'critic', else None."""
  if loss_config.mi != 'critic':
    return None
  return MutualInformationCritic(
      num_joints=int(num_joints), hidden=int(loss_config.mi_critic_hidden),
      network_weight=float(loss_config.mi_critic_weight),
      term_weights=tuple(float(w) for w in loss_config.mi_critic_term_weights),
      fit_weight=float(loss_config.mi_critic_fit_weight))
