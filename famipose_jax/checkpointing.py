"""Checkpoints: Orbax CheckpointManager, the config a workdir belongs to, init_from, stop signals.

A workdir is bound to one training config: `workdir/config.json` records it the first time, and
every later run in that workdir must match it (every checkpoint carries it too), so resuming
never mixes two experiments. Runtime-only fields (paths, logging, evaluation, intervals) may
change between runs.

Layout: workdir/config.json, workdir/checkpoints/<step>/{state,meta}. `state` is the TrainState
pytree, `meta` a small JSON record (step, epoch, the flattened config).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from data_pipeline import atomic_files
from famipose_jax import config_validation

CHECKPOINT_DIR = 'checkpoints'
CONFIG_FILE = 'config.json'
VARIABLES_DIR = 'variables'     # the converter's output: OUT_DIR/variables = {'params', 'batch_stats'}

# Fields that may differ when resuming: they do not change what the checkpoint holds or how the
# remaining steps compute. A prefix ('eval') covers a whole section.
RUNTIME_FIELDS = (
    'init_from', 'num_epochs', 'eval_batch_size', 'eval',
    'data.root', 'data.num_workers', 'data.prefetch_batches', 'data.on_bad_input',
    'data.loader', 'data.worker_start_method', 'data.frame_source', 'data.tfds_data_dir',
    'data.val_json', 'data.val_boxes_json', 'data.eval_boxes', 'data.det_score_threshold',
    'data.video_annotation_dir',
    'train.log_every_steps', 'train.checkpoint_every_steps', 'train.keep_checkpoints',
    'train.async_checkpointing', 'train.eval_every_epochs', 'train.num_vis_samples',
    'train.progress_bar', 'train.distributed', 'train.coordinator_address',
    'train.num_processes', 'train.process_id', 'train.pretrain_epochs',
    'train.pretrain_lr_decay_epochs',
)


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be read, or one that belongs to another config."""


class ConfigMismatchError(ValueError):
  """The workdir was created by a different training config."""


def flat_config(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """{'model.head': 'heatmap', ...} with JSON-normal values (tuples become lists)."""
  return json.loads(json.dumps(config_validation.flatten(config.to_dict()), default=str))


def _is_runtime(name: str) -> bool:
  return any(name == f or name.startswith(f + '.') for f in RUNTIME_FIELDS)


def config_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
  """'field: old in the workdir, new now' for every non-runtime field that differs."""
  names = sorted(n for n in set(recorded) | set(current) if not _is_runtime(n))
  return [f'  {n}: {recorded.get(n, "<absent>")!r} in the workdir, '
          f'{current.get(n, "<absent>")!r} now'
          for n in names if recorded.get(n, '<absent>') != current.get(n, '<absent>')]


def _listing(diffs: list[str]) -> str:
  return '\n'.join(diffs[:20]) + ('\n  ...' if len(diffs) > 20 else '')


def bind_workdir(workdir: str, config: ml_collections.ConfigDict, write: bool = True):
  """Checks that `workdir` belongs to `config` (or is new) and records the config there.

  Raises:
    ConfigMismatchError: naming the differing fields, before anything in the workdir is touched.
  """
  current = flat_config(config)
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path):
    try:
      with open(path, encoding='utf-8') as f:
        recorded = dict(json.load(f)['config'])
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise ConfigMismatchError(f'{path} is unreadable ({e}); it is not a workdir of this '
                                'program. Choose another --workdir.') from e
    diffs = config_differences(recorded, current)
    if diffs:
      raise ConfigMismatchError(
          f'workdir {workdir} holds a run of a different config ({path}):\n' + _listing(diffs)
          + '\nUse a new --workdir (nothing was changed in this one).')
  elif write and jax.process_index() == 0:
    atomic_files.write_json_atomic(path, {'config': current})


class Checkpointer:
  """Orbax CheckpointManager for the train state of one workdir.

  Saves every `save_every_steps` steps (and whenever `force`d), keeps the last `keep`, writes
  asynchronously when `use_async`; `wait()` blocks until pending writes are on disk.
  """

  def __init__(self, workdir: str, config: ml_collections.ConfigDict, *, save_every_steps: int,
               keep: int, use_async: bool = True):
    self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
    self.config = flat_config(config)
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=max(1, int(save_every_steps)), max_to_keep=max(1, int(keep)),
        enable_async_checkpointing=use_async, create=True)
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_names=('state', 'meta'))

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, meta: Mapping[str, Any], force: bool = False) -> bool:
    """Starts saving `state` at `step`; returns whether a save was started."""
    meta = dict(meta, step=int(step), config=self.config)
    return self._manager.save(
        int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                           meta=ocp.args.JsonSave(meta)), force=force)

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
    """The state saved at `step`, placed like `abstract_state` (ShapeDtypeStructs with shardings).

    Raises:
      CheckpointError: naming the step directory, if it cannot be read or belongs to another config.
    """
    where = self.step_dir(step)
    try:
      with _quiet_failed_reads():
        restored = self._manager.restore(
            int(step), args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state),
                                               meta=ocp.args.JsonRestore()))
        state, meta = restored['state'], dict(restored['meta'])
        jax.block_until_ready(state)
    except Exception as e:  # Orbax/tensorstore raise many types for damaged files.
      raise CheckpointError(
          f'checkpoint {where} is corrupt or incomplete and cannot be restored '
          f'({type(e).__name__}: {str(e)[:500]}). Move that directory away to resume from an '
          f'earlier checkpoint, or start a new --workdir. Nothing was changed.') from e
    diffs = config_differences(meta.get('config') or {}, self.config)
    if diffs:
      raise CheckpointError(f'checkpoint {where} was written by a different config:\n'
                            + _listing(diffs))
    return state, meta

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()


@contextlib.contextmanager
def _quiet_failed_reads(quiet_seconds: float = 0.25, limit_seconds: float = 3.0):
  """Keeps a failed Orbax read from printing hundreds of tracebacks after its real error.

  When one array of a checkpoint cannot be read, Orbax's event loop closes while tensorstore
  still completes the other reads; each completion then reports 'Event loop is closed' through
  sys.unraisablehook (within ~0.1 s). While active, those reports are dropped (others pass to
  the previous hook); after a failure it waits until they have stopped.
  """
  previous = sys.unraisablehook
  last = [time.monotonic()]

  def hook(unraisable):
    if (isinstance(unraisable.exc_value, RuntimeError)
        and 'Event loop is closed' in str(unraisable.exc_value)):
      last[0] = time.monotonic()
      return
    previous(unraisable)

  sys.unraisablehook = hook
  try:
    yield
  except BaseException:
    start = time.monotonic()
    last[0] = start
    while (time.monotonic() - last[0] < quiet_seconds
           and time.monotonic() - start < limit_seconds):
      time.sleep(0.05)
    raise
  finally:
    sys.unraisablehook = previous


# ---------------------------------------------------------------------------------------------
# Initialisation from another run or a converted PyTorch checkpoint.


class _DropMissingItemMetadata(logging.Filter):
  """Drops Orbax's warning that an item folder has no _CHECKPOINT_METADATA.

  A training checkpoint keeps that file one level up (the step folder, written by the
  CheckpointManager), so reading its `state` item alone always warns, about nothing.
  """

  def filter(self, record: logging.LogRecord) -> bool:
    return 'Metadata file does not exist' not in record.getMessage()


def _restore_untyped(path: str) -> Any:
  """A pytree of numpy arrays from an Orbax PyTree checkpoint directory."""
  quiet = _DropMissingItemMetadata()
  absl_logger = logging.getLogger('absl')
  absl_logger.addFilter(quiet)
  try:
    return _restore_item(path)
  finally:
    absl_logger.removeFilter(quiet)


def _restore_item(path: str) -> Any:
  with ocp.PyTreeCheckpointer() as ckptr:
    metadata = ckptr.metadata(path)
    tree = metadata.item_metadata.tree if hasattr(metadata, 'item_metadata') else metadata.tree
    restore_args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    return ckptr.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


def load_variables(source: str) -> dict[str, Any]:
  """{'params', 'batch_stats'} as numpy arrays from `source`.

  `source` is either the converter's output directory (holding `variables/`) or a training
  workdir (its latest checkpoint's model variables).
  """
  source = os.path.abspath(source)
  try:
    with _quiet_failed_reads():
      return _load_variables(source)
  except CheckpointError:
    raise
  except (KeyError, TypeError) as e:
    raise CheckpointError(f'init_from={source}: unexpected checkpoint structure ({e}).') from e
  except Exception as e:
    raise CheckpointError(f'init_from={source}: cannot read it ({type(e).__name__}: '
                          f'{str(e)[:500]}).') from e


def _load_variables(source: str) -> dict[str, Any]:
  if os.path.isdir(os.path.join(source, VARIABLES_DIR)):
    tree = _restore_untyped(os.path.join(source, VARIABLES_DIR))
    return {'params': tree['params'], 'batch_stats': tree.get('batch_stats', {})}
  ckpt_dir = os.path.join(source, CHECKPOINT_DIR)
  steps = sorted(int(s) for s in os.listdir(ckpt_dir) if s.isdigit()) \
      if os.path.isdir(ckpt_dir) else []
  if steps:
    state = _restore_untyped(os.path.join(ckpt_dir, str(steps[-1]), 'state'))
    return {'params': state['params']['model'], 'batch_stats': state['batch_stats']}
  raise CheckpointError(
      f'init_from={source} is neither a converted checkpoint (no {VARIABLES_DIR}/ inside; make '
      f'one with `python -m famipose_jax.convert IN.pth {source}`) nor a training workdir with '
      f'checkpoints.')


def _tree_paths(tree, prefix=()):
  if isinstance(tree, Mapping):
    for key, value in tree.items():
      yield from _tree_paths(value, prefix + (key,))
  else:
    yield prefix, tree


def merge_variables(target: Mapping[str, Any], loaded: Mapping[str, Any],
                    source: str) -> tuple[dict[str, Any], list[str]]:
  """`target` with every subtree that `loaded` also has replaced by the loaded values.

  A loaded collection whose top level looks like a bare HRNet (no 'backbone' key but keys of the
  model's backbone) is placed under 'backbone'. Shapes must agree exactly.

  Returns:
    (merged variables as a plain nested dict, the '/'-joined paths of loaded top-level modules).
  """
  merged = jax.tree_util.tree_map(lambda x: x, _to_dict(target))
  loaded_modules = set()
  for collection in ('params', 'batch_stats'):
    tgt = merged.get(collection, {})
    src = _to_dict(loaded.get(collection, {}))
    if src and 'backbone' in tgt and 'backbone' not in src and set(src) <= set(tgt['backbone']):
      src = {'backbone': src}
    for path, value in _tree_paths(src):
      node = tgt
      for key in path[:-1]:
        if not isinstance(node, Mapping) or key not in node:
          node = None
          break
        node = node[key]
      if node is None or path[-1] not in node:
        if path[0] in tgt:
          raise CheckpointError(f'init_from={source}: {collection}/{"/".join(path)} has no '
                                'counterpart in this model (a different architecture?).')
        continue  # a module this model does not have (e.g. FAMI-Pose additions into a baseline)
      if tuple(np.shape(node[path[-1]])) != tuple(np.shape(value)):
        raise CheckpointError(
            f'init_from={source}: {collection}/{"/".join(path)} has shape {np.shape(value)}, '
            f'the model expects {np.shape(node[path[-1]])}.')
      node[path[-1]] = np.asarray(value, dtype=np.asarray(node[path[-1]]).dtype)
      loaded_modules.add(path[0])
  return merged, sorted(loaded_modules)


def _to_dict(tree):
  if isinstance(tree, Mapping):
    return {k: _to_dict(v) for k, v in tree.items()}
  return tree


# ---------------------------------------------------------------------------------------------
# SIGTERM / SIGINT.


class StopSignal(contextlib.AbstractContextManager):
  """While active, the first SIGTERM or SIGINT only sets `requested` (the loop saves and exits).

  A second SIGINT raises KeyboardInterrupt as usual, for a user who does not want to wait.
  Outside the main thread (where handlers cannot be installed) it does nothing.
  """

  def __init__(self):
    self.requested: str | None = None
    self._previous = {}

  def _handler(self, signum, frame):
    name = signal.Signals(signum).name
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.requested = name
    logging.warning('%s received: saving a checkpoint and stopping after this step.', name)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGTERM, signal.SIGINT):
        self._previous[signum] = signal.signal(signum, self._handler)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous.clear()
    return False
