"""One training step: task loss + the family's objective, one gradient, one Adam update, jitted.

The loss terms (logged as task_loss and mi_loss, with each objective term as mi/<name>):
  task  the head's loss on the final prediction (heads.HeatmapHead: joint MSE on the heatmaps;
        heads.SimCCHead: SimCC's KL);
  mi    the model family's objective (models/registry.py, Objective), e.g. FAMI-Pose's
        model.famipose.mi: 'published' (the six coded KL-style terms), 'critic' (a learned
        estimator whose params sit in state.params['critic'] and train with the same
        gradient), 'none'.
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

from famipose_jax.models import inputs
from famipose_jax.runtime import compiler_options
from famipose_jax.runtime import sharding
from famipose_jax.train import optim
from famipose_jax.train.state import TrainState


def make_train_step(model: nn.Module, head, objective, tx: optax.GradientTransformation,
                    labels: Any, config: ml_collections.ConfigDict) -> Callable:
  """The pure step (state, batch) -> (state, metrics).

  Args:
    model: the network.
    head: its heads.HeatmapHead / SimCCHead (the task loss).
    objective: the family's models.registry.Objective (its loss terms and critic), or None.
    tx: the optimiser (optim.make_optimizer).
    labels: optim.param_labels of state.params: frozen leaves get no gradient.
    config: the experiment config (data section: the pixel normalisation).
  """

  def step_fn(state: TrainState, batch: dict[str, jax.Array]):

    def loss_fn(params):
      params = optim.stop_frozen_gradients(params, labels)
      variables = {'params': params['model'], 'batch_stats': state.batch_stats}
      outputs, updated = model.apply(variables, *inputs.network_inputs(batch, config),
                                     train=True, mutable=['batch_stats'])
      task = head.loss(outputs, batch)
      if objective is None:
        extra, terms = jnp.zeros((), jnp.float32), {}
      else:
        extra, terms = objective.compute(outputs, batch, params['critic'])
      aux = (updated['batch_stats'], task, extra, terms)
      return task + extra, aux

    (loss, (batch_stats, task, extra, terms)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {'loss': loss, 'task_loss': task, 'mi_loss': extra,
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
