"""Binding a workdir to one training config, so that resuming never mixes two experiments.

`workdir/config.json` records the config the first time; every later run in that workdir must
match it (every checkpoint carries it too). Runtime-only fields (paths, logging, evaluation,
intervals) may change between runs. `config_from_record` turns such a record back into a
config (prediction rebuilds a trained model's network from it).
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import jax
import ml_collections

from data_pipeline import atomic_files
from data_pipeline.errors import UserError
from famipose_jax.config import defaults as config_defaults
from famipose_jax.config import legacy
from famipose_jax.config import schema as config_schema
from famipose_jax.checkpoints import workdir_errors

CONFIG_FILE = 'config.json'

# Fields that may differ when resuming: they do not change what the checkpoint holds or how the
# remaining steps compute. A prefix ('eval') covers a whole section.
RUNTIME_FIELDS = (
    'init_from', 'num_epochs', 'eval_batch_size', 'eval',
    'data.root', 'data.num_workers', 'data.prefetch_batches', 'data.on_bad_input',
    'data.loader', 'data.worker_start_method', 'data.frame_source', 'data.tfds_data_dir',
    'data.val_json', 'data.val_boxes_json', 'data.eval_boxes', 'data.det_score_threshold',
    'data.video_annotation_dir',
    'train.log_every_steps', 'train.checkpoint_every_steps', 'train.keep_checkpoints',
    'train.async_checkpointing', 'train.on_corrupt_checkpoint', 'train.eval_every_epochs',
    'train.num_vis_samples', 'train.progress_bar', 'train.distributed', 'train.coordinator_address',
    'train.num_processes', 'train.process_id', 'train.heartbeat_timeout_seconds',
    'train.pretrain_epochs',
    'train.pretrain_lr_decay_epochs',
)


class ConfigMismatchError(UserError, ValueError):
  """The workdir was created by a different training config."""


def flat_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{'model.head': 'heatmap', ...} with JSON-normal values (tuples become lists)."""
  return json.loads(json.dumps(config_schema.flatten(config.to_dict()), default=str))


def _as_config_value(value, default):
  """A JSON value back in the type of the published default (lists were tuples)."""
  if isinstance(value, list) and isinstance(default, (tuple, list)):
    inner = default[0] if default else None
    return tuple(_as_config_value(v, inner) for v in value)
  if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  return value


def config_from_record(recorded: Mapping[str, Any], source: str) -> ml_collections.ConfigDict:
  """The config a `flat_config` record describes, validated.

  Fields the record lacks keep their published defaults (a record written before the field
  existed); a record written before model families is read under today's names
  (config/legacy.py); a field this version does not know is refused, as a config file's would
  be.

  Raises:
    ConfigError: naming `source` and the field.
  """
  recorded = legacy.upgrade_record(recorded)
  family = recorded.get('model.family', 'famipose')
  try:
    config = config_defaults.published_config(family)
  except config_schema.ConfigError as e:
    raise config_schema.ConfigError(f'{source}: {e}') from e
  defaults = config_schema.flatten(config.to_dict())
  unknown = sorted(set(recorded) - set(defaults))
  if unknown:
    raise config_schema.ConfigError(
        f'{source}: config field(s) {", ".join(unknown)} are unknown to this version of '
        'famipose_jax (written by a newer one?)')
  for name, value in recorded.items():
    node = config
    *parents, leaf = name.split('.')
    for part in parents:
      node = node[part]
    try:
      node[leaf] = _as_config_value(value, defaults[name])
    except (TypeError, ValueError) as e:
      raise config_schema.ConfigError(f'{source}: config.{name}={value!r}: {e}') from e
  try:
    config_schema.validate_config(config)
  except config_schema.ConfigError as e:
    raise config_schema.ConfigError(f'{source}: {e}') from e
  return config


def read_config_record(path: str) -> dict[str, Any]:
  """The flat config of a config.json (workdir or model folder).

  Raises:
    ConfigMismatchError: naming `path`, if it is unreadable or not such a record.
  """
  try:
    with open(path, encoding='utf-8') as f:
      recorded = json.load(f)['config']
    return dict(recorded)
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ConfigMismatchError(f'{path} is unreadable ({type(e).__name__}: {e}); it is not a '
                              'config record of this program.') from e


def _is_runtime(name: str) -> bool:
  return any(name == f or name.startswith(f + '.') for f in RUNTIME_FIELDS)


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any], *,
                       recorded_where: str = 'in the workdir') -> list[str]:
  """'field: old in the workdir, new now' for every non-runtime field that differs.

  A field the record lacks counts as its published default: a field added later defaults to
  what the program did before it existed (as `config_from_record` reads such a record).
  """
  recorded = legacy.upgrade_record(recorded)
  family = current.get('model.family', 'famipose')
  defaults = flat_config(config_defaults.published_config(family))
  recorded = {**{n: defaults[n] for n in current if n in defaults}, **recorded}
  names = sorted(n for n in set(recorded) | set(current) if not _is_runtime(n))
  return [f'  {n}: {recorded.get(n, "<absent>")!r} {recorded_where}, '
          f'{current.get(n, "<absent>")!r} now'
          for n in names if recorded.get(n, '<absent>') != current.get(n, '<absent>')]


def list_differences(diffs: list[str]) -> str:
  """The first 20 lines of `config_differences`, for an error message."""
  return '\n'.join(diffs[:20]) + ('\n  ...' if len(diffs) > 20 else '')


def bind_workdir(workdir: str, config: ml_collections.ConfigDict, write: bool = True):
  """Checks that `workdir` belongs to `config` (or is new) and records the config there.

  Raises:
    ConfigMismatchError: naming the differing fields, before anything in the workdir is touched.
    WorkdirWriteError: naming config.json, if it cannot be written (disk full, read-only).
  """
  current = flat_config(config)
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    try:
      recorded = read_config_record(path)
    except ConfigMismatchError as e:
      raise ConfigMismatchError(f'{e} Choose another --workdir.') from e
    diffs = config_differences(recorded, current)
    if diffs:
      raise ConfigMismatchError(
          f'workdir {workdir} holds a run of a different config ({path}):\n'
          + list_differences(diffs) + '\nUse a new --workdir (nothing was changed in this one).')
  elif write and jax.process_index() == 0:
    with workdir_errors.writing(path):
      atomic_files.write_json_atomic(path, {'config': current})
