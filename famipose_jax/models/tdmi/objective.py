"""TDMI's objective beside the heatmap loss: minimise I(useful motion; noisy motion).

The paper says only that the mutual information of the two RDM branches is minimised. Options
(model.tdmi.mi):
  'club'    CLUB (losses/club.py) on the globally pooled branches, u = mean_hw M_u and
            n = mean_hw M_n ([B, C] each), centred on their batch means and measured in units
            of the pooled M's per-channel spread over the batch (both stop-gradiented; neither
            changes the mutual information): the estimate does not depend on M's overall scale
            (the pooled motion feature of a new model varies by ~1e-4), and a gate near 0 makes
            its channel negligible at M's own resolution. q(n | u) trains in the same step;
  'lab_kl'  the lab model's surrogate: its feat_feat(M_u, M_n, freeze=False), the FAMI-Pose
            style spatial-softmax "KL" (losses/mi_published.py) with gradients into both;
  'none'.
The noisy branch has no other supervision. The guard (ours): a reconstruction term
mean((M_u + M_n - M)^2) / mean(M^2), weighted by model.tdmi.rdm_reconstruction_weight, makes
the two gates a partition of M: the noisy gate cannot shut while the useful one drops part of
M, nor both shut together. It does not rule out the trivial partition (the useful branch takes
all of M, the noisy one nothing), where both terms are 0: that is the objective's answer when M
holds nothing the task loss would rather drop; the metric mi/noisy_gate_mean shows it. It
applies whenever the RDM is on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from famipose_jax.losses import club as club_lib
from famipose_jax.losses import mi_published
from famipose_jax.models import registry

REQUIRED_OUTPUTS = ('motion_features', 'useful_motion', 'noisy_motion', 'useful_gate',
                    'noisy_gate')


def reconstruction_error(outputs: dict[str, jax.Array]) -> jax.Array:
  """mean((M_u + M_n - M)^2) / mean(M^2): 0 when the two branches sum to M."""
  motion = outputs['motion_features'].astype(jnp.float32)
  residual = outputs['useful_motion'] + outputs['noisy_motion'] - motion
  return jnp.mean(residual ** 2) / jnp.maximum(jnp.mean(motion ** 2), 1e-12)


def pooled(motion: jax.Array) -> jax.Array:
  """[B, h, w, C] -> [B, C] spatial means."""
  return jnp.mean(motion.astype(jnp.float32), axis=(1, 2))


def club_inputs(outputs: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(u, n, scale): the pooled branches centred on their batch means, and the pooled M's
  per-channel standard deviation over the batch, all statistics stop-gradiented."""
  centred = lambda x: x - jax.lax.stop_gradient(jnp.mean(x, axis=0))
  scale = jnp.maximum(jnp.std(pooled(outputs['motion_features']), axis=0), 1e-8)
  return (centred(pooled(outputs['useful_motion'])), centred(pooled(outputs['noisy_motion'])),
          jax.lax.stop_gradient(scale))


def _check_outputs(outputs):
  missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
  if missing:
    raise KeyError(f'TDMI objective: model outputs lack {missing} (model.tdmi.rdm must be True); '
                   f'got {sorted(outputs)}')


def _guard_terms(outputs, own) -> tuple[jax.Array, dict[str, jax.Array]]:
  reconstruction = reconstruction_error(outputs)
  terms = {'reconstruction': reconstruction,
           'useful_gate_mean': jnp.mean(outputs['useful_gate']),
           'noisy_gate_mean': jnp.mean(outputs['noisy_gate'])}
  return own.rdm_reconstruction_weight * reconstruction, terms


class ClubObjective(nn.Module):
  """The 'club' objective; its q-network is the family's critic (state.params['critic'])."""
  own: ml_collections.FrozenConfigDict

  @nn.compact
  def __call__(self, outputs, batch) -> tuple[jax.Array, dict[str, jax.Array]]:
    del batch
    _check_outputs(outputs)
    own = self.own
    estimate = club_lib.GaussianCLUB(own.club_hidden, name='club')(*club_inputs(outputs))
    loss, terms = _guard_terms(outputs, own)
    loss = loss + own.mi_weight * estimate['club'] + own.club_fit_weight * estimate['nll']
    terms.update(club=estimate['club'], q_nll=estimate['nll'])
    return loss, terms


def objective(config: ml_collections.ConfigDict) -> registry.Objective | None:
  """model.tdmi's objective, or None without the RDM."""
  own = ml_collections.FrozenConfigDict(config.model.tdmi)
  if not own.rdm:
    return None
  if own.mi == 'club':
    return registry.Objective.of_critic(ClubObjective(own), label='mi')

  def surrogate(outputs, batch, critic_params):
    del batch, critic_params
    _check_outputs(outputs)
    loss, terms = _guard_terms(outputs, own)
    if own.mi == 'lab_kl':
      kl = mi_published.published_kl(outputs['useful_motion'], outputs['noisy_motion'],
                                     temperature=own.lab_kl_temperature, faithful=True,
                                     detach_p=False)
      loss = loss + own.mi_weight * kl
      terms['lab_kl'] = kl
    return loss, terms
  return registry.Objective(compute=surrogate, label='mi')
