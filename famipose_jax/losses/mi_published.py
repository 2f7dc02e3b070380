"""The "mutual information" terms exactly as FAMI-Pose's code computes them (Alignment_V15).

No estimator is learned. Each term compares two temperature-sharpened spatial softmaxes (one
distribution over the h * w positions per example and channel) with PyTorch's
`F.kl_div(input=P, target=Q, reduction='mean')`, i.e. the mean over every element of
Q * (log Q - P), where the code passes the *probabilities* P = softmax(A.detach() / T) as
`input` (kl_div expects log-probabilities there), so the published value is not a KL
divergence. `faithful=False` computes the true KL(Q || P) instead: summed over positions,
averaged over examples and channels. Either way gradient flows only into Q's source.

Terms (F = decoded by the frozen backbone head, detached by the model; Y = final heatmaps):
  mi_1 = feat_label(fused)        mi_2 = feat_feat(key, fused)
  mi_3 = feat_label(support)      mi_4 = feat_feat(support, fused)
  mi_5 = feat_label(key)          mi_6 = feat_feat(key, fused)   (the code repeats mi_2)
  loss = alpha * (-beta * mi_1 + beta * mi_2 + mi_3 - mi_4 + mi_5 - mi_6)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _spatial_log_softmax(maps: jax.Array, temperature: float) -> jax.Array:
  """[B, h, w, C] -> [B, h * w, C] log-softmax over positions of maps / temperature."""
  b, h, w, c = maps.shape
  return jax.nn.log_softmax(maps.reshape(b, h * w, c).astype(jnp.float32) / temperature, axis=1)


def published_kl(source_p: jax.Array, source_q: jax.Array, *, temperature: float,
                 faithful: bool, detach_p: bool = True) -> jax.Array:
  """One published term: P from source_p (kl_div's input; stop-gradiented unless detach_p=False),
  Q from source_q.

  Args:
    source_p, source_q: [B, h, w, C] maps with the same shape.
    temperature: the softmax temperature (0.05 published).
    faithful: True reproduces mean(Q * (log Q - P)) with P a probability; False is the true
      KL(Q || P) summed over positions and averaged over B * C.
    detach_p: P carries no gradient (FAMI-Pose; the lab's feat_feat with freeze=False: False).

  Returns:
    float32 scalar.
  """
  if source_p.shape != source_q.shape or source_p.ndim != 4:
    raise ValueError(f'published_kl: maps must both be [B, h, w, C], got {source_p.shape} and '
                     f'{source_q.shape}')
  log_p = _spatial_log_softmax(jax.lax.stop_gradient(source_p) if detach_p else source_p,
                               temperature)
  log_q = _spatial_log_softmax(source_q, temperature)
  q = jnp.exp(log_q)   # where q underflows to 0 its term is 0, as kl_div's xlogy gives
  if faithful:
    return jnp.mean(q * (log_q - jnp.exp(log_p)))
  return jnp.mean(jnp.sum(q * (log_q - log_p), axis=1))


REQUIRED_OUTPUTS = ('heatmaps', 'key_features', 'aggregated_support', 'fused_features',
                    'decoded_fused', 'decoded_support', 'decoded_key')


def published_mi(outputs: dict[str, jax.Array], *, temperature: float, alpha: float,
                 beta: float, faithful: bool) -> tuple[jax.Array, dict[str, jax.Array]]:
  """The published MI objective from the model's outputs (NHWC).

  Args:
    outputs: the model's dict with REQUIRED_OUTPUTS ('decoded_*' [B, h, w, K] already
      stop-gradiented by the model; features [B, h, w, C]; 'heatmaps' [B, h, w, K]).
    temperature, alpha, beta: config loss.mi_temperature (0.05), mi_alpha (0.5), mi_beta (0.1).
    faithful: config loss.mi_faithful.

  Returns:
    (loss, {'mi_1': ..., 'mi_6': ...}) float32 scalars.
  """
  missing = [k for k in REQUIRED_OUTPUTS if k not in outputs]
  if missing:
    raise KeyError(f'published_mi: model outputs lack {missing} (temporal mode is required); '
                   f'got {sorted(outputs)}')
  kl = lambda p, q: published_kl(p, q, temperature=temperature, faithful=faithful)
  heatmaps = outputs['heatmaps']
  key, support, fused = (outputs['key_features'], outputs['aggregated_support'],
                         outputs['fused_features'])
  feat_feat_key_fused = kl(key, fused)
  terms = {
      'mi_1': kl(outputs['decoded_fused'], heatmaps),
      'mi_2': feat_feat_key_fused,
      'mi_3': kl(outputs['decoded_support'], heatmaps),
      'mi_4': kl(support, fused),
      'mi_5': kl(outputs['decoded_key'], heatmaps),
      'mi_6': feat_feat_key_fused,      # the code computes feat_feat(z_key, all_agg) twice
  }
  loss = alpha * (-beta * terms['mi_1'] + beta * terms['mi_2'] + terms['mi_3'] - terms['mi_4']
                  + terms['mi_5'] - terms['mi_6'])
  return loss, terms
