"""Checks a config before training touches anything: unknown or missing fields, bad choices.

train.py lets `--config.x=...` overrides add fields, and configs built in Python and passed to
`train_and_evaluate` are not checked either, so a misspelt field would otherwise be ignored.
The schema is configs/posetrack17.py: every experiment config derives from it.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

import ml_collections

from configs import posetrack17

# Fields with a closed set of values.
CHOICES = {
    'model.head': ('heatmap', 'simcc'),
    'model.global_transform': ('translation', 'affine', 'none'),
    'model.dcn_mask_activation': ('none', 'sigmoid'),
    'model.dtype': ('float32', 'bfloat16'),
    'data.dataset': ('posetrack17', 'posetrack18', 'posetrack21', 'synthetic'),
    'data.boundary_rule': ('published', 'clamp'),
    'data.loader': ('numpy', 'tfdata'),
    'data.on_bad_input': ('error', 'skip'),
    'loss.mi': ('published', 'critic', 'none'),
    'eval.joint_score': ('times_box_score', 'raw'),
}

# Fields that must be at least this large.
MINIMUM = {
    'batch_size': 1, 'eval_batch_size': 1, 'num_epochs': 1,
    'train.log_every_steps': 1, 'train.checkpoint_every_steps': 1, 'train.keep_checkpoints': 1,
    'train.eval_every_epochs': 0, 'train.pretrain_epochs': 0, 'train.num_vis_samples': 0,
}


class ConfigError(ValueError):
  """A config field that does not exist, is missing, or holds an invalid value."""


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
  """{'a.b.c': leaf} of a nested mapping."""
  flat = {}
  for key, value in tree.items():
    name = f'{prefix}{key}'
    if isinstance(value, Mapping):
      flat.update(flatten(value, name + '.'))
    else:
      flat[name] = value
  return flat


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


def validate_config(config: ml_collections.ConfigDict,
                    schema: ml_collections.ConfigDict | None = None):
  """Raises ConfigError naming the first problem field and its value.

  Args:
    config: the experiment config.
    schema: the reference layout (default: configs/posetrack17.get_config()).
  """
  schema = posetrack17.get_config() if schema is None else schema
  flat = flatten(config.to_dict())
  reference = flatten(schema.to_dict())

  unknown = sorted(set(flat) - set(reference))
  if unknown:
    hints = []
    for name in unknown:
      close = difflib.get_close_matches(name, reference, n=1)
      hints.append(f'{name}' + (f" (did you mean '{close[0]}'?)" if close else ''))
    raise ConfigError('unknown config field(s): ' + ', '.join(hints))
  missing = sorted(set(reference) - set(flat))
  if missing:
    raise ConfigError('config field(s) missing: ' + ', '.join(missing)
                      + ' (derive configs from configs/posetrack17.get_config())')
  for name, value in flat.items():
    if not _same_kind(value, reference[name]):
      raise ConfigError(f'config.{name}={value!r} has type {type(value).__name__}, expected '
                        f'{type(reference[name]).__name__}')
  for name, allowed in CHOICES.items():
    if flat[name] not in allowed:
      raise ConfigError(f'config.{name}={flat[name]!r} is not one of {allowed}')
  for name, least in MINIMUM.items():
    if flat[name] < least:
      raise ConfigError(f'config.{name}={flat[name]!r} must be >= {least}')

  if not config.model.temporal and config.loss.mi != 'none':
    raise ConfigError(f"config.loss.mi={config.loss.mi!r} needs model.temporal=True "
                      "(the single-frame model has no supporting features); use 'none'")
  if not config.model.temporal and config.model.freeze_backbone and config.model.head == 'heatmap':
    raise ConfigError('config.model.freeze_backbone=True with model.temporal=False leaves nothing '
                      'to train; set model.freeze_backbone=False for the single-frame baseline')
  epochs = tuple(config.optim.lr_decay_epochs)
  if list(epochs) != sorted(epochs) or any(e < 1 for e in epochs):
    raise ConfigError(f'config.optim.lr_decay_epochs={epochs} must be increasing positive epochs')
  if config.train.pretrain_epochs and config.init_from:
    raise ConfigError(f'config.train.pretrain_epochs={config.train.pretrain_epochs} and '
                      f'config.init_from={config.init_from!r}: choose one way to get the backbone')
