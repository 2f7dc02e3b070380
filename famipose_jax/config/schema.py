"""The one config schema: fields and their types, allowed values, minimums, rules between fields.

`validate_config` is applied once, before a run writes anything (famipose_jax/train/loop.py).
The layout (which fields exist, of which type) is config.defaults.published_config(): every
experiment config starts from it and changes values, never fields. train.py lets
`--config.x=...` overrides add fields, and configs built in Python are not checked by
ml_collections either, so a misspelt field would otherwise be silently ignored.
`validate_model_section` applies the model rules to one section, for code handed a section that
was never validated (models.build_model). The data section's tables and rules are the data
pipeline's own (data_pipeline/config.py); this schema composes them.

The code that reads a closed-set field takes its allowed values from CHOICES. This module is pure
Python (no JAX).
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

import ml_collections

from data_pipeline import config as data_schema
from data_pipeline import posetrack_video
from data_pipeline.errors import ConfigError
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import registry

flatten = data_schema.flatten
validate_data_section = data_schema.validate_data_section
LOADER_FIELDS = data_schema.LOADER_FIELDS

# Every field with a closed set of values, and the values.
CHOICES = {
    **data_schema.CHOICES,
    'model.head': ('heatmap', 'simcc'),
    'model.dtype': ('float32', 'bfloat16', 'float64'),   # float64: cross-checks (x64 on)
    'model.backbone.final_conv_kernel': (1, 3),
    'loss.simcc_batch_reduction': ('mean', 'sum'),
    'train.on_corrupt_checkpoint': ('error', 'fall_back'),
    'eval.joint_score': ('times_box_score', 'raw'),
    'eval.prediction_layout': posetrack_video.LAYOUTS,   # the file layouts it reads and writes
}

# Fields that must be at least this large (the data section's bounds are its own).
MINIMUM = {
    'batch_size': 1, 'eval_batch_size': 1, 'num_epochs': 1,
    'train.log_every_steps': 1, 'train.checkpoint_every_steps': 1, 'train.keep_checkpoints': 1,
    'train.eval_every_epochs': 0, 'train.pretrain_epochs': 0, 'train.num_vis_samples': 0,
    'train.heartbeat_timeout_seconds': 1, 'optim.weight_decay': 0.0,
}

# Fields that must be above 0: a zero or negative value trains or decodes nonsense silently.
POSITIVE = (
    'optim.learning_rate', 'optim.lr_decay_factor', 'optim.eps', 'loss.simcc_beta',
    'eval.dark_kernel_size',
)

# Adam's decay rates: within [0, 1).
BELOW_ONE = ('optim.b1', 'optim.b2')

# (W, H) sizes: two positive integers.
SIZE_FIELDS = ('model.image_size', 'model.heatmap_size')

# HRNet halves its input five times (stem 4x, then three more branches): the input must divide.
_BACKBONE_STRIDE = 32

# Sizes that both config.model and config.data hold: one value, which the configs tie together
# with a FieldReference (a config built in Python can break the tie).
SHARED_FIELDS = ('image_size', 'heatmap_size', 'num_joints', 'simcc_split_ratio')

# HRNet's heatmaps are at 1/4 of the input resolution.
_HEATMAP_STRIDE = 4


def all_choices() -> dict[str, tuple]:
  """CHOICES, the registered families and each family's own closed sets."""
  choices = dict(CHOICES)
  choices['model.family'] = registry.names()
  for name in registry.names():
    choices.update(registry.get(name).choices)
  return choices


def check_choice(field: str, value) -> None:
  """Raises ConfigError unless `value` is one of the allowed values of `field` (e.g.
  'data.loader'; a family's fields too: 'model.famipose.mi')."""
  data_schema.check_choice(field, value, all_choices())


def validate_model_section(model: ml_collections.ConfigDict) -> None:
  """Raises ConfigError for a `config.model` the network cannot be built from."""
  family = registry.get(model.family)
  flat = flatten(model.to_dict(), 'model.')
  if family.section is not None and family.name not in model:
    raise ConfigError(f'config.model.family={family.name!r} needs its section config.model.'
                      f'{family.name} ({_SWITCH_HINT.format(family=family.name)})')
  choices = all_choices()
  for field in choices:
    if field.startswith('model.') and field in flat:
      check_choice(field, flat[field])
  _check_model_rules(model)
  if family.check is not None:
    family.check(model)


# How a config changes family: the new family's section comes with its defaults.
_SWITCH_HINT = ("start from its configs, or switch a config with "
                "famipose_jax.config.defaults.with_family(config, {family!r})")


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError naming the first problem field and its value."""
  flat = flatten(config.to_dict())
  family = registry.get(flat.get('model.family', '<missing>'))
  reference = flatten(config_defaults.published_config(family.name).to_dict())

  unknown = sorted(set(flat) - set(reference))
  other_sections = sorted({name.split('.')[1] for name in unknown if name.startswith('model.')
                           and name.split('.')[1] in registry.names()})
  if other_sections:
    other = other_sections[0]
    raise ConfigError(f'config.model.{other} is the section of model family {other!r}, but '
                      f'config.model.family={family.name!r} ({_SWITCH_HINT.format(family=other)})')
  if unknown:
    hints = []
    for name in unknown:
      close = difflib.get_close_matches(name, reference, n=1)
      hints.append(f'{name}' + (f" (did you mean '{close[0]}'?)" if close else ''))
    raise ConfigError('unknown config field(s): ' + ', '.join(hints))
  missing = sorted(set(reference) - set(flat))
  if missing:
    raise ConfigError('config field(s) missing: ' + ', '.join(missing)
                      + ' (derive configs from famipose_jax.config.defaults.published_config())')
  for name, value in flat.items():
    if not _same_kind(value, reference[name]):
      raise ConfigError(f'config.{name}={value!r} has type {type(value).__name__}, expected '
                        f'{type(reference[name]).__name__}')
  for name, allowed in all_choices().items():
    if name in flat:
      data_schema.check_choice(name, flat[name], {name: allowed})
  data_schema.check_bounds(flat, minimum=MINIMUM, positive=POSITIVE, unit_interval=())
  _check_bounds(flat)

  _check_shared_fields(config)
  _check_model_rules(config.model)
  if family.check is not None:
    family.check(config.model)
  validate_data_section(config.data)
  _check_run_rules(config)
  if family.check_run is not None:
    family.check_run(config)


def _same_kind(value, reference) -> bool:
  if isinstance(reference, bool):
    return isinstance(value, bool)
  if isinstance(reference, float):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
  if isinstance(reference, int):
    return isinstance(value, int) and not isinstance(value, bool)
  if isinstance(reference, (tuple, list)):
    return isinstance(value, (tuple, list))
  if isinstance(reference, str):
    return isinstance(value, str)
  return True


def _plain(value):
  return tuple(value) if isinstance(value, (tuple, list)) else value


def _check_shared_fields(config: ml_collections.ConfigDict) -> None:
  for name in SHARED_FIELDS:
    in_model, in_data = _plain(config.model[name]), _plain(config.data[name])
    if in_model != in_data:
      raise ConfigError(f'config.model.{name}={in_model!r} and config.data.{name}={in_data!r} '
                        'differ; model, targets and decoding need one value')


def _check_bounds(flat: Mapping[str, Any]) -> None:
  for name in BELOW_ONE:
    if not 0 <= flat[name] < 1:
      raise ConfigError(f'config.{name}={flat[name]!r} must be in [0, 1)')
  for name in SIZE_FIELDS:
    value = tuple(flat[name])
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                  for v in value):
      raise ConfigError(f'config.{name}={value!r} must be (width, height), two positive '
                        'integers')


def _check_model_rules(model: ml_collections.ConfigDict) -> None:
  def check(ok: bool, field: str, value, expected: str):
    if not ok:
      raise ConfigError(f'config.model.{field}={value!r}: expected {expected}')
  width, height = model.image_size
  check(width % _BACKBONE_STRIDE == 0 and height % _BACKBONE_STRIDE == 0, 'image_size',
        tuple(model.image_size), f'multiples of {_BACKBONE_STRIDE} (HRNet halves its input '
        'five times)')
  hm_width, hm_height = model.heatmap_size
  stride = _HEATMAP_STRIDE
  check((hm_width * stride, hm_height * stride) == (width, height), 'heatmap_size',
        tuple(model.heatmap_size), f'image_size / {stride} = ({width / stride:g}, '
        f'{height / stride:g}) (HRNet outputs at stride {stride})')


def _check_run_rules(config: ml_collections.ConfigDict) -> None:
  """Rules between sections: what the model, the losses and the schedule need of each other."""
  epochs = tuple(config.optim.lr_decay_epochs)
  if list(epochs) != sorted(epochs) or any(e < 1 for e in epochs):
    raise ConfigError(f'config.optim.lr_decay_epochs={epochs} must be increasing positive epochs')
  if config.train.pretrain_epochs and config.init_from:
    raise ConfigError(f'config.train.pretrain_epochs={config.train.pretrain_epochs} and '
                      f'config.init_from={config.init_from!r}: choose one way to get the backbone')
