"""The train state, created directly in its sharded placement.

params = {'model': the Flax model's params, 'critic': the MI critic's params ({} unless
config.loss.mi == 'critic')}: one optimiser and one gradient cover both, so the critics train
in the same step as the model.
"""

from __future__ import annotations

import contextlib
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import linen as nn
from jax.sharding import Mesh

from famipose_jax import models
from famipose_jax.runtime import sharding


@flax.struct.dataclass
class TrainState:
  step: jax.Array           # int32 [], optimiser updates done
  params: Any               # {'model': ..., 'critic': ...}
  batch_stats: Any          # the model's BatchNorm running statistics
  opt_state: optax.OptState


def dummy_inputs(config: ml_collections.ConfigDict, batch: int = 1):
  """Zero key [batch, H, W, 3] and supporting [batch, N, H, W, 3] frames (None: single frame)."""
  return models.example_inputs(config.model, batch, len(config.data.supporting_offsets))


def dummy_batch(config: ml_collections.ConfigDict, batch: int = 1) -> dict[str, jax.Array]:
  """A zero training batch (the entries a data batch puts on the device), for initialising critics."""
  key_image, supporting = dummy_inputs(config, batch)
  hw, hh = config.model.heatmap_size
  k = config.model.num_joints
  out = {'key_image': key_image,
         'heatmap': jnp.zeros((batch, hh, hw, k), jnp.float32),
         'target_weight': jnp.zeros((batch, k), jnp.float32)}
  if supporting is not None:
    out['supporting_images'] = supporting
  return out


def make_init_fn(model: nn.Module, critic: nn.Module | None, tx: optax.GradientTransformation,
                 config: ml_collections.ConfigDict):
  """A pure function seed -> TrainState, to run under jit with sharded outputs."""

  def init(seed: jax.Array) -> TrainState:
    key = jax.random.key(seed)
    model_key, critic_key = jax.random.split(key)
    key_image, supporting = dummy_inputs(config)
    variables = model.init({'params': model_key}, key_image, supporting, train=False)
    params = {'model': variables['params'], 'critic': {}}
    if critic is not None:
      # The critic sees the model's outputs; two examples so in-batch negatives exist.
      key_image2, supporting2 = dummy_inputs(config, batch=2)
      outputs = model.apply(variables, key_image2, supporting2, train=False)
      critic_vars = critic.init({'params': critic_key}, outputs, dummy_batch(config, 2))
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


def create_train_state(model: nn.Module, critic: nn.Module | None,
                       tx: optax.GradientTransformation, config: ml_collections.ConfigDict,
                       mesh: Mesh) -> TrainState:
  """A fresh state, every leaf replicated over the mesh from the moment it exists."""
  init = make_init_fn(model, critic, tx, config)
  with fast_compiling_rng():
    return sharding.create_replicated(init, mesh, np.uint32(config.seed))


def init_model_variables(model: nn.Module, config: ml_collections.ConfigDict,
                         mesh: Mesh) -> dict[str, Any]:
  """The model's freshly initialised {'params', 'batch_stats'}, replicated over the mesh."""
  key_image, supporting = dummy_inputs(config)
  init = lambda seed: model.init(jax.random.key(seed), key_image, supporting, train=False)
  with fast_compiling_rng():
    return dict(sharding.create_replicated(init, mesh, np.uint32(config.seed)))


def abstract_train_state(model, critic, tx, config, mesh) -> TrainState:
  """ShapeDtypeStructs (with shardings) of the state, for restoring a checkpoint into place."""
  init = make_init_fn(model, critic, tx, config)
  shapes = jax.eval_shape(init, np.uint32(config.seed))
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
