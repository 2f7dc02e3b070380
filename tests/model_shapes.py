"""What the model tests share: a network's variable and output shapes by jax.eval_shape, and
parameter counts (nothing is computed, so full-size models cost no time)."""

import jax
import numpy as np

from famipose_jax import experiment as experiment_lib
from famipose_jax import models
from famipose_jax.models import inputs as model_inputs
from famipose_jax.train import optim


def count(tree) -> int:
  """Number of scalars in a tree of arrays or ShapeDtypeStructs."""
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def shapes(config, batch_size: int = 1):
  """(variable shapes, output shapes) of config's network on one batch of its clip."""
  model = models.build_model(config.model)
  example = model_inputs.example_inputs_of(config, batch_size)
  variables = jax.eval_shape(lambda k: model.init(k, *example, train=False), jax.random.key(0))
  return variables, jax.eval_shape(lambda v: model.apply(v, *example), variables)


def trainable_count(config, params) -> int:
  """Scalars of `params` the optimiser updates (the family's frozen subtrees left out)."""
  labels = optim.param_labels({'model': params, 'critic': {}},
                              experiment_lib.Experiment(config).family.frozen(config.model))
  return sum(int(np.prod(p.shape)) for p, label in zip(
      jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(labels['model']))
      if label == optim.TRAINABLE)
