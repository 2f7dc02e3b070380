"""The network of a config's model section, and the shapes of its variables."""

from __future__ import annotations

from typing import Any

import jax
import ml_collections

from famipose_jax.config import schema as config_schema
from famipose_jax.models import inputs
from famipose_jax.models import registry


def build_model(model_config: ml_collections.ConfigDict):
  """The Flax module of config.model's family (the section validated, frozen into the module)."""
  config_schema.validate_model_section(model_config)
  return registry.get(model_config.family).build(model_config)


def variable_shapes(model_config: ml_collections.ConfigDict,
                    num_supporting: int) -> dict[str, Any]:
  """{'params', 'batch_stats'} of ShapeDtypeStructs (jax.eval_shape: nothing is computed)."""
  model = build_model(model_config)
  example = inputs.example_inputs(model_config, 1, num_supporting)
  shapes = jax.eval_shape(lambda rng: model.init(rng, *example, train=False), jax.random.key(0))
  return {'params': shapes['params'], 'batch_stats': shapes.get('batch_stats', {})}
