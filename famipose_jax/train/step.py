"""One training step: task loss + MI objective, one gradient, one Adam update, jitted and sharded.

The loss terms:
  task  the head's loss on the final prediction (heads.HeatmapHead: joint MSE on the heatmaps;
        heads.SimCCHead: SimCC's KL);
  mi    config.loss.mi: 'published' (the six coded KL-style terms), 'critic' (a learned estimator
        whose params sit in state.params['critic'] and train with the same gradient), 'none'.
`experiment.Experiment.train_step` builds and compiles it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import linen as nn
from jax.sharding import Mesh

from famipose_jax.runtime import compiler_options
from famipose_jax import losses
from famipose_jax.train import optim
from famipose_jax.models import pixels
from famipose_jax.runtime import sharding
from famipose_jax.train.state import TrainState


def mi_objective(outputs: dict[str, jax.Array], batch: dict[str, jax.Array],
                 critic: nn.Module | None, critic_params: Any,
                 config: ml_collections.ConfigDict) -> tuple[jax.Array, dict[str, jax.Array]]:
  """(MI loss, its named terms) as config.loss.mi selects."""
  l = config.loss
  if l.mi == 'none':
    return jnp.zeros((), jnp.float32), {}
  if l.mi == 'published':
    return losses.published_mi(outputs, temperature=l.mi_temperature, alpha=l.mi_alpha,
                               beta=l.mi_beta, faithful=l.mi_faithful)
  return critic.apply({'params': critic_params}, outputs, batch)


def make_train_step(model: nn.Module, head, critic: nn.Module | None,
                    tx: optax.GradientTransformation, labels: Any,
                    config: ml_collections.ConfigDict) -> Callable:
  """The pure step (state, batch) -> (state, metrics).

  Args:
    model: the network.
    head: its heads.HeatmapHead / SimCCHead (the task loss).
    critic: the MI critic module, or None.
    tx: the optimiser (optim.make_optimizer).
    labels: optim.param_labels of state.params: frozen leaves get no gradient.
    config: the experiment config (loss and data sections).
  """

  def step_fn(state: TrainState, batch: dict[str, jax.Array]):

    def loss_fn(params):
      params = optim.stop_frozen_gradients(params, labels)
      variables = {'params': params['model'], 'batch_stats': state.batch_stats}
      key_image, supporting = pixels.network_inputs(batch, config)
      outputs, updated = model.apply(variables, key_image, supporting, train=True,
                                     mutable=['batch_stats'])
      task = head.loss(outputs, batch)
      mi, terms = mi_objective(outputs, batch, critic, params['critic'], config)
      aux = (updated['batch_stats'], task, mi, terms)
      return task + mi, aux

    (loss, (batch_stats, task, mi, terms)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {'loss': loss, 'task_loss': task, 'mi_loss': mi,
               'grad_norm': optax.tree.norm(grads),
               'learning_rate': optim.current_learning_rate(opt_state)}
    metrics.update({f'mi/{name}': value for name, value in terms.items()})
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                              opt_state=opt_state)
    return new_state, metrics

  return step_fn


def jit_train_step(step_fn: Callable, state: TrainState, mesh: Mesh) -> Callable:
  """`step_fn` jitted: state replicated and donated, batch split over 'data', metrics replicated.

  `state` may be abstract (ShapeDtypeStructs): only its tree structure is used.
  """
  replicated = sharding.replicated(mesh)
  state_sharding = jax.tree_util.tree_map(lambda _: replicated, state)
  return compiler_options.jit(step_fn, in_shardings=(state_sharding, sharding.data_sharded(mesh)),
                              out_shardings=(state_sharding, replicated), donate_argnums=(0,))
