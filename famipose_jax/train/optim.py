"""The published optimiser: Adam with a step-wise learning rate, and the frozen backbone.

FAMI-Pose steps PyTorch's MultiStepLR once after every epoch, so epoch e (from 0) trains with
lr * factor ** (number of milestones <= e). Here the schedule counts optimiser updates: update s
belongs to epoch s // steps_per_epoch.

Freezing is a label per parameter: 'frozen' leaves get a zero update and keep no Adam moments;
the train step also stops their gradient so the backward pass skips them. The learning rate
lives in the optimiser state (optax.inject_hyperparams), so what is logged is what was used.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

FROZEN = 'frozen'
TRAINABLE = 'trainable'
# The model's parameter subtree that `freeze_backbone` freezes (every family's name for it).
BACKBONE = 'backbone'


def learning_rate_schedule(optim_config: ml_collections.ConfigDict,
                           steps_per_epoch: int) -> Callable[[jax.Array], jax.Array]:
  """lr(update count) = lr * lr_decay_factor ** #{e in lr_decay_epochs : e * steps_per_epoch
  <= count}."""
  if steps_per_epoch < 1:
    raise ValueError(f'steps_per_epoch must be >= 1, got {steps_per_epoch}')
  base = float(optim_config.learning_rate)
  factor = float(optim_config.lr_decay_factor)
  boundaries = jnp.asarray([int(e) * steps_per_epoch for e in optim_config.lr_decay_epochs],
                           dtype=jnp.int32)

  def schedule(count):
    passed = jnp.sum(jnp.asarray(count, jnp.int32) >= boundaries) if boundaries.size else 0
    return base * jnp.power(jnp.float32(factor), passed).astype(jnp.float32)

  return schedule


def param_labels(trainable: Any, frozen: tuple[str, ...]) -> Any:
  """FROZEN for every leaf under trainable['model'][m] for m in `frozen`, else TRAINABLE.

  Args:
    trainable: {'model': model params, 'critic': critic params (maybe empty)}.
    frozen: the model's top-level subtrees it does not train (its family's `frozen`, e.g.
      ('backbone',) with config.model.freeze_backbone).
  """
  def label(path, _):
    keys = [getattr(k, 'key', None) for k in path]
    return FROZEN if keys[0] == 'model' and len(keys) > 1 and keys[1] in frozen else TRAINABLE
  return jax.tree_util.tree_map_with_path(label, trainable)


def stop_frozen_gradients(trainable: Any, labels: Any) -> Any:
  """The same tree with `stop_gradient` on frozen leaves (no backward pass through them)."""
  return jax.tree_util.tree_map(
      lambda p, l: jax.lax.stop_gradient(p) if l == FROZEN else p, trainable, labels)


# Only the learning rate is injected: Adam's constants stay Python floats, so the update
# arithmetic is exactly plain optax.adam's.
_ADAM_STATIC_ARGS = ('b1', 'b2', 'eps', 'eps_root', 'mu_dtype', 'nesterov')


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int,
                   frozen: tuple[str, ...] = ()) -> optax.GradientTransformation:
  """Adam (PyTorch semantics: weight decay added to the gradient) on trainable leaves only.

  Args:
    config: the experiment config (optim section).
    steps_per_epoch: optimiser updates per epoch (the schedule counts updates).
    frozen: the model's top-level subtrees it does not train (`param_labels`).
  """
  o = config.optim
  adam = optax.inject_hyperparams(optax.adam, static_args=_ADAM_STATIC_ARGS)(
      learning_rate=learning_rate_schedule(o, steps_per_epoch), b1=o.b1, b2=o.b2, eps=o.eps)
  if o.weight_decay:
    adam = optax.chain(optax.add_decayed_weights(o.weight_decay), adam)
  frozen = tuple(frozen)
  return optax.multi_transform({TRAINABLE: adam, FROZEN: optax.set_to_zero()},
                               lambda trainable: param_labels(trainable, frozen))


def current_learning_rate(opt_state: optax.OptState) -> jax.Array:
  """The learning rate the last update used (before any update: the schedule's first value)."""
  return optax.tree_utils.tree_get(opt_state, 'learning_rate',
                                   filtering=lambda _, value: isinstance(value, jax.Array))
