"""A trained network for prediction: its config and its {'params', 'batch_stats'}, read-only.

Three kinds of folder hold one, and `load_trained_model` tells them apart:

  a training workdir     workdir/config.json and the newest workdir/checkpoints/<step>
  one checkpoint         workdir/checkpoints/<step> (its meta item records the config)
  a model folder         variables/ (Orbax {'params', 'batch_stats'}) and config.json: what
                         `save_model_folder` writes, and what the PyTorch converter writes
                         (`python -m famipose_jax.convert`; older conversions lack config.json,
                         and then the caller passes the config)

Checkpoint arrays are compared with the checksums saved beside them, and every variable must
have the shape the config's network expects, so a damaged checkpoint or one of another model
fails here, by name, rather than predicting garbage. Nothing in the folder is written.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np

from data_pipeline import atomic_files
from famipose_jax import errors
from famipose_jax.config import schema as config_schema
from famipose_jax import models
from famipose_jax.models import inputs as model_inputs
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import checksums
from famipose_jax.checkpoints import init_from
from famipose_jax.checkpoints import verified_read
from famipose_jax.checkpoints import workdir_binding
from famipose_jax.interop import checkpoint_io

CONFIG_FILE = workdir_binding.CONFIG_FILE
VARIABLES_DIR = init_from.VARIABLES_DIR
# Where a TrainState holds the network.
_STATE_PARTS = {'params': ('params', 'model'), 'batch_stats': ('batch_stats',)}


@dataclasses.dataclass
class TrainedModel:
  """What prediction needs of a trained network.

  Attributes:
    config: the experiment config the network was trained with (validated).
    variables: {'params', 'batch_stats'} of numpy arrays, in the network's dtypes.
    source: the folder the variables were read from (a step folder for a workdir).
    step: the training step of a checkpoint, None for a model folder.
  """
  config: ml_collections.ConfigDict
  variables: dict[str, Any]
  source: str
  step: int | None = None


def _newest_step_dir(workdir: str) -> str:
  folder = os.path.join(workdir, checkpointer.CHECKPOINT_DIR)
  steps = sorted(int(s) for s in os.listdir(folder) if s.isdigit()) if os.path.isdir(folder) \
      else []
  if not steps:
    raise checkpointer.CheckpointError(f'{workdir} has no checkpoints ({folder} holds no step '
                                       'folder): it has not trained a step yet')
  return os.path.join(folder, str(steps[-1]))


def _is_step_dir(path: str) -> bool:
  return all(os.path.isdir(os.path.join(path, item)) for item in ('state', 'meta'))


def _read_step_dir(step_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
  """(flat config, network variables) of one checkpoint, its arrays and meta checked."""
  meta, state = verified_read.read_step_dir(step_dir)
  try:
    variables = {name: _subtree(state, path) for name, path in _STATE_PARTS.items()}
  except KeyError as e:
    raise checkpointer.CheckpointError(
        f'{step_dir}/state has no {e} entry: not a train state of this program.') from e
  return meta['config'], variables


def _subtree(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
  for key in path:
    tree = tree[key]
  return tree


def _check_fits(config: ml_collections.ConfigDict, variables: Mapping[str, Any], source: str):
  """Every variable the config's network has, with its shape, and no other."""
  expected = models.variable_shapes(config.model, len(model_inputs.clip_of(config).offsets))
  want = {checksums.leaf_name(p): v for p, v in jax.tree_util.tree_flatten_with_path(
      {c: expected.get(c, {}) for c in _STATE_PARTS})[0]}
  have = {checksums.leaf_name(p): v for p, v in jax.tree_util.tree_flatten_with_path(
      {c: variables.get(c, {}) for c in _STATE_PARTS})[0]}
  missing = sorted(set(want) - set(have))
  extra = sorted(set(have) - set(want))
  reshaped = [f'{name} {tuple(np.shape(have[name]))} (expected {tuple(want[name].shape)})'
              for name in sorted(set(want) & set(have))
              if tuple(np.shape(have[name])) != tuple(want[name].shape)]
  problems = [f'{len(names)} {what}, e.g. {names[0]}'
              for what, names in (('with another shape', reshaped), ('missing', missing),
                                  ('not in the model', extra)) if names]
  if problems:
    raise checkpointer.CheckpointError(
        f'{source} does not hold the network its config describes (a checkpoint of another '
        f'model?): of {len(want)} variables, ' + '; '.join(problems))
  return jax.tree_util.tree_map(lambda v, s: np.asarray(v, s.dtype), dict(variables),
                                {c: expected.get(c, {}) for c in variables})


def load_trained_model(path: str,
                       config: ml_collections.ConfigDict | None = None) -> TrainedModel:
  """The trained network in `path`: a workdir, one of its checkpoints, or a model folder.

  Args:
    path: the folder (see the module docstring).
    config: the config to use; required for a model folder without config.json (a
      conversion made before conversions recorded it). Where a config is recorded, the given
      one may differ from it only in runtime fields (evaluation settings, paths: see
      `workdir_binding.RUNTIME_FIELDS`).

  Raises:
    FileNotFoundError: `path` is none of the three.
    CheckpointError (CorruptCheckpointError): naming the folder, for unreadable or damaged
      arrays, or variables that do not fit the config's network.
    ConfigError: naming the file and field, for a recorded config this version cannot use.
  """
  path = os.path.abspath(path)
  step = None
  if os.path.isdir(os.path.join(path, VARIABLES_DIR)):
    source = path
    config_path = os.path.join(path, CONFIG_FILE)
    recorded = (workdir_binding.read_config_record(config_path)
                if os.path.exists(config_path) else None)
    variables = verified_read.restore(os.path.join(path, VARIABLES_DIR))
    variables = {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}
    if recorded is None and config is None:
      raise config_schema.ConfigError(
          f'{path} records no config ({CONFIG_FILE} is missing; conversions made before it was '
          'recorded): pass the config it was converted with (--config)')
  elif os.path.isdir(path) and (_is_step_dir(path) or
                                os.path.isdir(os.path.join(path, checkpointer.CHECKPOINT_DIR))):
    source = path if _is_step_dir(path) else _newest_step_dir(path)
    recorded, variables = _read_step_dir(source)
    step = int(os.path.basename(source)) if os.path.basename(source).isdigit() else None
  else:
    raise errors.MissingInputError(
        f'{path} is not a trained model: expected a training workdir (with {CONFIG_FILE} and '
        f'{checkpointer.CHECKPOINT_DIR}/), one of its checkpoints/<step> folders, or a model '
        f'folder with {VARIABLES_DIR}/ (python -m famipose_jax.convert writes one)')
  if config is None:
    config = workdir_binding.config_from_record(recorded, source)
  else:
    config_schema.validate_config(config)
    diffs = ([] if recorded is None else
             workdir_binding.config_differences(recorded, workdir_binding.flat_config(config),
                                                recorded_where='recorded'))
    if diffs:   # same shapes can still mean other crops, offsets or decoding: wrong poses
      raise config_schema.ConfigError(
          f'the config given differs from the one recorded with {source}:\n'
          + workdir_binding.list_differences(diffs)
          + '\nLeave the config out to use the recorded one.')
  variables = _check_fits(config, variables, source)
  return TrainedModel(config=config, variables=variables, source=source, step=step)


def save_model_folder(out_dir: str, config: ml_collections.ConfigDict,
                      variables: Mapping[str, Any]) -> str:
  """Writes a model folder (variables/ and config.json) at `out_dir`, all or nothing.

  The folder is assembled beside `out_dir` and renamed into place, so `out_dir` never holds
  a partial model. An existing `out_dir` is refused.
  """
  out_dir = os.path.abspath(out_dir)
  if os.path.exists(out_dir):
    raise errors.RefusedOverwriteError(
        f'{out_dir} exists: refusing to overwrite it (choose a new folder)')
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  staging = tempfile.mkdtemp(dir=parent, prefix=f'.{os.path.basename(out_dir)}.', suffix='.tmp')
  try:
    os.rmdir(staging)   # save_variables wants a new or empty folder and creates it
    checkpoint_io.save_variables(staging, jax.device_get(dict(variables)))
    write_config_record(staging, config)
    os.rename(staging, out_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return out_dir


def write_config_record(folder: str, config: ml_collections.ConfigDict) -> None:
  """folder/config.json: the flat config, as a workdir records it."""
  atomic_files.write_json_atomic(os.path.join(folder, CONFIG_FILE),
                                 {'config': workdir_binding.flat_config(config)})
