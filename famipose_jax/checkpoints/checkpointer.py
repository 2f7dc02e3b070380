"""The Orbax CheckpointManager for the train state of one workdir, with checksums and retention.

Layout: workdir/checkpoints/<step>/{state,layout,meta,checksums}. `state` is the TrainState,
packed into one array per dtype with `layout` saying where each leaf lies (`packed_state.py`:
Orbax's cost is per array, and a train state has hundreds of small ones); with several
processes, and in checkpoints written before the packing (69be3e5), it is the TrainState pytree
itself and there is no `layout`. `meta` is a small JSON record (step, epoch, the flattened config),
`checksums` the SHA-256 of every array of the state, of the meta record and of the layout
(`checksums.py`). Orbax commits the items together: a step folder appears only once all are
written (an interrupted save leaves a `*.orbax-checkpoint-tmp` folder that Orbax ignores and
removes).

A restore compares every array and the meta record with their checksums; a checkpoint of
another config is refused.
Retention is ours, not Orbax's `max_to_keep`: checkpoints beyond the newest `keep` are deleted
only once the newest has been read back from disk and matched its checksums, so a damaged or
failed save never costs the older, intact ones.

Saves in the background (one process): `save` copies the state into buffers of its own (the
next train step may donate the state's) and returns; a worker thread then reads back and
verifies the previous checkpoint, applies retention, hashes the new state and hands it to
Orbax. The training thread pays only the copy; every guarantee above holds, and a failure is
raised by the next `save`, `wait` or `close`, as before for an asynchronous write. One copy of
the state is in flight at a time. With several processes the work stays on the training thread
(Orbax's collectives there must run in the same order as the step's).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from data_pipeline.errors import UserError
from famipose_jax.runtime import multihost
from famipose_jax.checkpoints import checksums
from famipose_jax.checkpoints import orbax_noise
from famipose_jax.checkpoints import packed_state
from famipose_jax.checkpoints import workdir_binding

CHECKPOINT_DIR = 'checkpoints'
CHECKSUMS_ITEM = 'checksums'
# Damaged checkpoints skipped by restore_latest_intact move here (workdir/corrupt_checkpoints):
# training saves their steps again, and they stay for inspection.
CORRUPT_DIR = 'corrupt_checkpoints'
_FALL_BACK_OPTION = '--config.train.on_corrupt_checkpoint=fall_back'


class CheckpointError(UserError, RuntimeError):
  """A checkpoint that cannot be read or written, or one that belongs to another config."""


class CorruptCheckpointError(CheckpointError):
  """A checkpoint whose files cannot be read or whose arrays differ from their checksums.

  `reason` is the first sentence of the message: what is wrong, without advice.
  """

  def __init__(self, reason: str, advice: str = ''):
    super().__init__(f'{reason}{advice}')
    self.reason = reason


@contextlib.contextmanager
def closed_after(ckpt: 'Checkpointer'):
  """`with closed_after(ckpt):` closes `ckpt` when the block ends.

  An error already on its way out of the block stays the error: if closing fails as well (a
  pending save that could not be written), that failure is added to it as a note, instead of
  replacing it as a `finally: ckpt.close()` would (the user would see the wrong cause).
  """
  try:
    yield ckpt
  except BaseException as first:
    try:
      ckpt.close()
    except Exception as second:  # pylint: disable=broad-except (reported with the first)
      first.add_note(f'closing the checkpoints failed as well: {second}')
      logging.error('closing the checkpoints failed as well: %s', second)
    raise
  ckpt.close()


def _host_sharding():
  """Where a read-back for verification goes: host memory, not the accelerator's."""
  try:
    device = jax.local_devices(backend='cpu')[0]
  except RuntimeError:   # JAX_PLATFORMS without cpu
    device = jax.local_devices()[0]
  return jax.sharding.SingleDeviceSharding(device)


def _read_back_target(state: Any) -> Any:
  """ShapeDtypeStructs to read `state` back into, for comparing it with its checksums."""
  if jax.process_count() > 1:   # arrays sharded over processes are read back as they were saved
    sharding_of = lambda x: getattr(x, 'sharding', None) or _host_sharding()
  else:
    host = _host_sharding()
    sharding_of = lambda x: host
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(np.shape(x), getattr(x, 'dtype', None) or np.result_type(x),
                                     sharding=sharding_of(x)), state)


def _packed_target(layout: Mapping[str, Any]) -> dict[str, jax.ShapeDtypeStruct]:
  """ShapeDtypeStructs, in host memory, to read a packed state's arrays into."""
  host = _host_sharding()
  return {dtype: jax.ShapeDtypeStruct((int(size),), np.dtype(dtype), sharding=host)
          for dtype, size in layout['sizes'].items()}


def checked_layout(where: str, layout: Mapping[str, Any] | None,
                   recorded: Mapping[str, Any] | None,
                   advice: str = '') -> Mapping[str, Any] | None:
  """The packed-state layout of checkpoint `where` once it is known to be the one saved (None
  for a checkpoint of the pytree layout); `recorded` is its checksums document, if any.

  Raises:
    CorruptCheckpointError: the layout, or the checksums of a packed state, are missing, or the
      layout differs from its digest.
    CheckpointError: a layout of a format this version does not read (a newer version's).
  """
  if layout is None:
    if recorded is not None and 'layout' in recorded:
      raise CorruptCheckpointError(f'checkpoint {where} is corrupt: the layout of its packed '
                                   'state is missing.', advice)
    return None
  if recorded is None:
    raise CorruptCheckpointError(f'checkpoint {where} is incomplete: its state is packed but '
                                 'the checksums saved with it are missing.', advice)
  if not checksums.layout_matches(recorded, layout):
    raise CorruptCheckpointError(f'checkpoint {where} is corrupt: the layout of its packed '
                                 'state does not match the checksum saved with it.', advice)
  if layout.get('format') != packed_state.FORMAT:
    raise CheckpointError(
        f"checkpoint {where} was written by a newer version of this program (packed-state "
        f"layout format {layout.get('format')!r}; this version reads format "
        f'{packed_state.FORMAT}): update famipose-jax to read it.')
  return layout


def unpacked_leaves(where: str, arrays: Mapping[str, Any], layout: Mapping[str, Any],
                    advice: str = '') -> dict[str, np.ndarray]:
  """`packed_state.unpack` of checkpoint `where`'s arrays by its (checked) layout.

  Raises:
    CorruptCheckpointError: the layout places a leaf outside the arrays read.
  """
  try:
    return packed_state.unpack(arrays, layout)
  except ValueError as e:
    raise CorruptCheckpointError(f'checkpoint {where} is corrupt: {e}.', advice) from e


def _placed(leaves: Mapping[str, np.ndarray], abstract_state: Any, where: str) -> Any:
  """The pytree `abstract_state` describes, its arrays taken from `leaves` and placed as it says.

  Raises:
    CheckpointError: for a leaf the checkpoint lacks or holds in another shape or dtype.
  """
  # Leaves the checkpoint has beyond `abstract_state` are left out, as a partial restore would.
  paths, treedef = jax.tree_util.tree_flatten_with_path(abstract_state)
  arrays = []
  for path, target in paths:
    name = checksums.leaf_name(path)
    value = leaves.get(name)
    if value is None or value.shape != tuple(target.shape) or value.dtype != target.dtype:
      held = 'nothing' if value is None else f'{value.dtype.name}{list(value.shape)}'
      raise CheckpointError(
          f'checkpoint {where} holds {held} for {name}, which this run has as '
          f'{np.dtype(target.dtype).name}{list(target.shape)}: it was written by another '
          'version of the model.')
    arrays.append(jax.make_array_from_callback(
        value.shape, getattr(target, 'sharding', None) or _host_sharding(),
        lambda index, value=value: value[index]))
  return jax.tree_util.tree_unflatten(treedef, arrays)


def _reason(error: BaseException) -> str:
  """'No space left on device' for an OSError anywhere in the chain, else 'Type: message'."""
  seen = error
  while seen is not None:
    if isinstance(seen, OSError) and seen.strerror:
      return seen.strerror
    seen = seen.__cause__ or seen.__context__
  first_line = (str(error).strip().splitlines() or [''])[0]
  return f'{type(error).__name__}: {first_line[:300]}'


class Checkpointer:
  """Orbax CheckpointManager for the train state of one workdir.

  Saves every `save_every_steps` steps (and whenever `force`d), keeps the last `keep` (see the
  module docstring), writes asynchronously when `use_async`, off the caller's thread when
  `background` and the state packed when `packed` (both for one process only; the tests turn
  packing off to write the older layout); `wait()` blocks until pending writes are on disk and
  read back. Restores read either layout.
  """

  def __init__(self, workdir: str, config: ml_collections.ConfigDict, *, save_every_steps: int,
               keep: int, use_async: bool = True, background: bool = True, packed: bool = True):
    self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
    self.config = workdir_binding.flat_config(config)
    self.keep = max(1, int(keep))
    self._pending = None      # (step, read-back target) of a save not yet verified on disk
    self._last_good = None    # the newest step restored or verified by this Checkpointer
    self._failed = False      # a failed save was reported: Orbax may still report it, quieted
    # The worker's current job (a Future): settling the previous save, then starting this one.
    self._job = None
    self._worker = (concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix='checkpoint')
                    if background and jax.process_count() == 1 else None)
    # Arrays sharded over several processes have no full copy to pack on any one host.
    self._packed = packed and jax.process_count() == 1
    self._quiet = contextlib.ExitStack()
    self._quiet.enter_context(orbax_noise.one_line_write_errors())
    # Orbax's own barriers are collectives on the devices, and on CPU gloo gives up on a first
    # collective after 30 s: every process waits here, however long another took to compile.
    multihost.barrier('checkpointer')
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=max(1, int(save_every_steps)), max_to_keep=None,
        enable_async_checkpointing=use_async, create=True)
    try:
      self._manager = ocp.CheckpointManager(
          self.directory, options=options,
          item_names=('state', 'meta', CHECKSUMS_ITEM, packed_state.LAYOUT_ITEM))
    except OSError as e:
      self._quiet.close()
      raise CheckpointError(f'cannot create the checkpoint folder {self.directory}: '
                            f'{_reason(e)}.') from e

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def all_steps(self) -> list[int]:
    self._join()
    return self._steps()

  def _steps(self) -> list[int]:
    """all_steps without waiting for the worker (for the worker's own use)."""
    return sorted(self._manager.all_steps())

  def latest_step(self) -> int | None:
    self._join()
    return self._manager.latest_step()

  def save(self, step: int, state: Any, meta: Mapping[str, Any], force: bool = False) -> bool:
    """Starts saving `state` at `step`; returns whether a save was started.

    Raises:
      CheckpointError: naming the folder and the reason, if this save or the previous one
        cannot be written (or the previous one does not read back as it was saved).
    """
    self._join()
    if self._worker is None:
      self._settle()
    if not force and not self._manager.should_save(int(step)):
      return False
    meta = dict(meta, step=int(step), config=self.config)
    if self._worker is None:
      return self._start(int(step), state, meta, force)
    # Buffers of its own: the train step that follows may donate (and so delete) the state's.
    snapshot = jax.tree_util.tree_map(jnp.copy, state)
    self._job = self._worker.submit(self._settle_and_start, int(step), snapshot, meta, force)
    return True

  def _settle_and_start(self, step: int, state: Any, meta: dict[str, Any], force: bool) -> bool:
    """The worker's job: settle the previous save, then start this one."""
    self._settle()
    return self._start(step, state, meta, force)

  def _start(self, step: int, state: Any, meta: dict[str, Any], force: bool) -> bool:
    """Hashes `state` (packing it) and starts Orbax's write of it with its checksums."""
    leaves = checksums.host_leaves(state)
    if self._packed:
      arrays, layout = packed_state.pack(leaves)
      items = {'state': ocp.args.StandardSave(jax.device_put(arrays, _host_sharding())),
               packed_state.LAYOUT_ITEM: ocp.args.JsonSave(layout)}
    else:
      layout, items = None, {'state': ocp.args.StandardSave(state)}
    record = checksums.manifest(leaves, meta, layout)
    try:
      started = self._manager.save(
          step, args=ocp.args.Composite(
              meta=ocp.args.JsonSave(meta), **{CHECKSUMS_ITEM: ocp.args.JsonSave(record)},
              **items),
          force=force)
    except Exception as e:  # Orbax and tensorstore report a failed write in many types.
      raise self._write_error(step, e) from e
    if started:   # a packed state reads back by its layout, a pytree into its own shapes
      self._pending = (step, None if self._packed else _read_back_target(state))
    return started

  def _join(self):
    """Waits for the worker's job; raises its error (a CheckpointError) here, once."""
    job, self._job = self._job, None
    if job is not None:
      job.result()

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
    """The state saved at `step`, placed like `abstract_state` (ShapeDtypeStructs with shardings).

    The returned meta has 'verified': False for a checkpoint without checksums (one written
    before they existed), which is restored with a warning.

    Raises:
      CorruptCheckpointError: naming the step directory (and the array), if it cannot be read or
        an array differs from its checksum.
      CheckpointError: naming the step directory, if it belongs to another config.
    """
    self._join()
    advice = (f' Nothing was changed. To resume from the newest intact checkpoint instead, rerun '
              f'with {_FALL_BACK_OPTION} (damaged checkpoints are moved to '
              f'{self._corrupt_dir()}), or move that folder away.')
    state, meta = self._read(int(step), abstract_state, advice)
    self._last_good = int(step)
    return state, meta

  def restore_latest_intact(self, abstract_state: Any) -> tuple[Any, dict[str, Any]]:
    """The newest checkpoint that reads back intact; newer, damaged ones are set aside.

    Walks the steps newest first and logs each one skipped, and why. The skipped ones move to
    workdir/corrupt_checkpoints/<step>, so that training can save their steps again.

    Raises:
      CorruptCheckpointError: if no checkpoint is intact (nothing is moved then).
      CheckpointError: if a checkpoint belongs to another config.
    """
    skipped = []
    for step in reversed(self.all_steps()):
      try:
        state, meta = self.restore(step, abstract_state)
      except CorruptCheckpointError as e:
        logging.warning('skipped, as damaged: %s', e.reason)
        skipped.append((step, e.reason))
        continue
      self._set_aside([s for s, _ in skipped])
      return state, meta
    raise CorruptCheckpointError(
        f'no intact checkpoint in {self.directory}: ' + ' '.join(r for _, r in skipped),
        ' Nothing was changed; move the folder away or choose a new --workdir to start afresh.')

  def wait(self):
    """Blocks until the pending save is on disk and verified; then applies retention.

    Raises:
      CheckpointError: as `save` does, for the pending save.
    """
    self._join()
    self._settle()

  def close(self):
    """Waits as `wait()` does, then closes Orbax's manager.

    Raises:
      CheckpointError: as `save` does, unless the failure was reported already.
    """
    try:
      self._join()
      self._settle()
    finally:
      if self._worker is not None:
        self._worker.shutdown(wait=True)
      try:
        self._manager.close()
      except Exception as e:  # Orbax re-raises a failed save it has already raised once.
        if not self._failed:
          raise self._write_error(None, e) from e
      if not self._failed:   # otherwise Orbax's threads may report the failure until exit
        self._quiet.close()

  def _read(self, step: int, abstract_state: Any, advice: str) -> tuple[Any, dict[str, Any]]:
    """(state, meta) of checkpoint `step`, verified; the state is placed like `abstract_state`
    (None: a packed state is only verified, and None returned in its place)."""
    where = self.step_dir(step)
    has_checksums = os.path.isdir(os.path.join(where, CHECKSUMS_ITEM))
    has_layout = os.path.isdir(os.path.join(where, packed_state.LAYOUT_ITEM))

    def read(items):
      try:
        with orbax_noise.quiet_failed_reads():
          restored = self._manager.restore(step, args=ocp.args.Composite(**items))
          # Waits for the arrays too: tensorstore may fail while they arrive.
          jax.block_until_ready([restored[name] for name in items])
          return restored
      except Exception as e:  # Orbax/tensorstore raise many types for damaged files.
        if multihost.failed_collective(e):   # not the files: never set aside as corrupt
          raise CheckpointError(f'cannot read checkpoint {where}: '
                                f'{multihost.lost_peer_message(e)}') from e
        raise CorruptCheckpointError(
            f'checkpoint {where} is corrupt or incomplete and cannot be restored '
            f'({type(e).__name__}: {str(e)[:500]}).', advice) from e

    # The meta record and its checksum first, then the config: another config's arrays do not
    # fit this state, and such a checkpoint is not damaged (falling back must never set it
    # aside as corrupt); a damaged meta record must not pass for another config either.
    first = {'meta': ocp.args.JsonRestore()}
    if has_checksums:
      first[CHECKSUMS_ITEM] = ocp.args.JsonRestore()
    if has_layout:
      first[packed_state.LAYOUT_ITEM] = ocp.args.JsonRestore()
    restored = read(first)
    meta = dict(restored['meta'])
    recorded = restored.get(CHECKSUMS_ITEM)
    if recorded is not None and not checksums.meta_matches(recorded, meta):
      raise CorruptCheckpointError(
          f'checkpoint {where} is corrupt: its meta record (step, epoch, config) does not match '
          'the checksum saved with it.', advice)
    layout = checked_layout(where, restored.get(packed_state.LAYOUT_ITEM), recorded, advice)
    is_packed = layout is not None
    diffs = workdir_binding.config_differences(meta.get('config') or {}, self.config)
    if diffs:
      raise CheckpointError(f'checkpoint {where} was written by a different config:\n'
                            + workdir_binding.list_differences(diffs))
    if is_packed:
      arrays = read({'state': ocp.args.StandardRestore(_packed_target(layout))})['state']
      leaves = unpacked_leaves(where, arrays, layout, advice)
    else:
      state = read({'state': ocp.args.StandardRestore(abstract_state)})['state']
      leaves = checksums.host_leaves(state) if has_checksums else {}
    if has_checksums:
      differing, compared = checksums.mismatches(recorded, leaves)
      if differing:
        others = f' (and {len(differing) - 1} more)' if len(differing) > 1 else ''
        raise CorruptCheckpointError(
            f'checkpoint {where} is corrupt: {differing[0]}{others} does not match the checksum '
            f'saved with it ({len(differing)} of {compared} arrays differ).', advice)
    else:
      logging.warning('checkpoint %s has no checksums (written by an earlier version): its '
                      'arrays cannot be verified', where)
    if is_packed:
      state = None if abstract_state is None else _placed(leaves, abstract_state, where)
    meta['verified'] = has_checksums
    return state, meta

  def _settle(self):
    """Waits for the pending save, reads it back, and only then deletes old checkpoints."""
    pending, self._pending = self._pending, None
    try:
      self._manager.wait_until_finished()
    except Exception as e:  # Orbax and tensorstore report a failed write in many types.
      raise self._write_error(pending[0] if pending else None, e) from e
    if pending is None:
      return
    step, target = pending
    self._manager.reload()   # a failed asynchronous save may leave a step Orbax only assumed
    if step not in self._manager.all_steps():
      raise self._write_error(step, None)
    self._read(step, target, f' It was damaged right after it was written; '
                             f'{self._last_good_note(step)}.')
    self._last_good = step
    for old in self._steps()[:-self.keep]:
      if old < step:
        self._manager.delete(old)

  def _last_good_note(self, failed: int | None) -> str:
    good = self._last_good
    if good is None:
      on_disk = [s for s in self._steps() if s != failed]
      good = on_disk[-1] if on_disk else None
    if good is None:
      return 'no earlier checkpoint exists'
    return f'the last good checkpoint, {self.step_dir(good)}, is kept'

  def _write_error(self, step: int | None, error: BaseException | None) -> CheckpointError:
    """The one-line error for a failed save (and a note that it has been reported)."""
    self._failed = True
    if error is not None and multihost.failed_collective(error):
      reason = multihost.lost_peer_message(error)
    else:
      reason = _reason(error) if error is not None else 'the save did not complete (see the log)'
    what = f'checkpoint {step}' if step is not None else 'a checkpoint'
    return CheckpointError(f'cannot write {what} to {self.directory}: {reason}; '
                           f'{self._last_good_note(step)}.')

  def _corrupt_dir(self) -> str:
    return os.path.join(os.path.dirname(self.directory), CORRUPT_DIR)

  def _set_aside(self, steps: list[int]):
    """Moves the step folders `steps` to workdir/corrupt_checkpoints (process 0 moves)."""
    if not steps:
      return
    if jax.process_index() == 0:
      aside = self._corrupt_dir()
      for step in steps:
        target = os.path.join(aside, str(step))
        copy = 1
        while os.path.exists(target):   # the same step was set aside before
          target = os.path.join(aside, f'{step}.{copy}')
          copy += 1
        try:
          os.makedirs(aside, exist_ok=True)
          os.rename(self.step_dir(step), target)
        except OSError as e:
          raise CheckpointError(f'cannot move the corrupt checkpoint {self.step_dir(step)} to '
                                f'{target}: {_reason(e)}.') from e
        logging.warning('moved the corrupt checkpoint %s to %s', self.step_dir(step), target)
    ocp.multihost.sync_global_processes('famipose_jax:set_aside_corrupt_checkpoints')
    self._manager.reload()
