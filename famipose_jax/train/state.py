"""The train state, created directly in its sharded placement.

params = {'model': the Flax model's params, 'critic': the params of its objective's critic ({}
unless the family's objective has one, e.g. model.famipose.mi == 'critic')}: one optimiser and
one gradient cover both, so the critics train in the same step as the model.
"""

from __future__ import annotations

import contextlib
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from famipose_jax.runtime import sharding


@flax.struct.dataclass
class TrainState:
  step: jax.Array           # int32 [], optimiser updates done
  params: Any               # {'model': ..., 'critic': ...}
  batch_stats: Any          # the model's BatchNorm running statistics
  opt_state: optax.OptState


def dummy_batch(experiment, batch: int = 1) -> dict[str, jax.Array]:
  """A zero training batch (the entries a data batch puts on the device), for initialising an
  objective's critic."""
  config = experiment.config
  out = dict(zip(experiment.input_keys, experiment.example_inputs(batch)))
  hw, hh = config.model.heatmap_size
  k = config.model.num_joints
  out.update({'heatmap': jnp.zeros((batch, hh, hw, k), jnp.float32),
              'target_weight': jnp.zeros((batch, k), jnp.float32)})
  return out


def make_init_fn(experiment):
  """A pure function seed -> TrainState of an Experiment, to run under jit with sharded outputs."""
  model, critic, tx = experiment.model, experiment.critic, experiment.tx

  def init(seed: jax.Array) -> TrainState:
    key = jax.random.key(seed)
    model_key, critic_key = jax.random.split(key)
    variables = model.init({'params': model_key}, *experiment.example_inputs(), train=False)
    params = {'model': variables['params'], 'critic': {}}
    if critic is not None:
      # The critic sees the model's outputs; two examples so in-batch negatives exist.
      outputs = model.apply(variables, *experiment.example_inputs(2), train=False)
      critic_vars = critic.init({'params': critic_key}, outputs, dummy_batch(experiment, 2))
      params['critic'] = critic_vars['params']
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get('batch_stats', {}), opt_state=tx.init(params))

  return init


def fast_compiling_rng():
  """Context in which initialisers compile quickly.

  XLA:CPU needs minutes to compile a whole model's initialisers with the partitionable
  threefry (77 s vs 6 s for the tiny HRNet); parameters are created replicated, so the
  partitionable variant buys nothing here. Falls back to a no-op where JAX lacks the switch.
  """
  switch = getattr(jax, 'threefry_partitionable', None)
  return switch(False) if switch is not None else contextlib.nullcontext()


def create_train_state(experiment, mesh: Mesh) -> TrainState:
  """A fresh state, every leaf replicated over the mesh from the moment it exists."""
  init = make_init_fn(experiment)
  with fast_compiling_rng():
    return sharding.create_replicated(init, mesh, np.uint32(experiment.config.seed))


def init_model_variables(experiment, mesh: Mesh) -> dict[str, Any]:
  """The model's freshly initialised {'params', 'batch_stats'}, replicated over the mesh."""
  example = experiment.example_inputs()
  init = lambda seed: experiment.model.init(jax.random.key(seed), *example, train=False)
  with fast_compiling_rng():
    return dict(sharding.create_replicated(init, mesh, np.uint32(experiment.config.seed)))


def abstract_train_state(experiment, mesh: Mesh) -> TrainState:
  """ShapeDtypeStructs (with shardings) of the state, for restoring a checkpoint into place."""
  init = make_init_fn(experiment)
  shapes = jax.eval_shape(init, np.uint32(experiment.config.seed))
  replicated = sharding.replicated(mesh)
  return jax.tree_util.tree_map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=replicated), shapes)


def with_model_variables(state: TrainState, variables: dict[str, Any],
                         tx: optax.GradientTransformation, mesh: Mesh) -> TrainState:
  """`state` with the model's params and batch_stats replaced (init_from), moments reset."""
  replicated = sharding.replicated(mesh)
  put = lambda tree: jax.device_put(tree, replicated)
  params = dict(state.params, model=put(variables['params']))
  opt_state = jax.jit(tx.init, out_shardings=replicated)(params)
  return state.replace(params=params, batch_stats=put(variables['batch_stats']),
                       opt_state=opt_state)
