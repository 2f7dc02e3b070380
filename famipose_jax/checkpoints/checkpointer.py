"""The Orbax CheckpointManager for the train state of one workdir.

Layout: workdir/checkpoints/<step>/{state,meta}. `state` is the TrainState pytree, `meta` a
small JSON record (step, epoch, the flattened config); a checkpoint of another config is
refused on restore.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import ml_collections
import orbax.checkpoint as ocp

from famipose_jax.checkpoints import orbax_noise
from famipose_jax.checkpoints import workdir_binding

CHECKPOINT_DIR = 'checkpoints'


class CheckpointError(RuntimeError):
  """A checkpoint that cannot be read, or one that belongs to another config."""


class Checkpointer:
  """Orbax CheckpointManager for the train state of one workdir.

  Saves every `save_every_steps` steps (and whenever `force`d), keeps the last `keep`, writes
  asynchronously when `use_async`; `wait()` blocks until pending writes are on disk.
  """

  def __init__(self, workdir: str, config: ml_collections.ConfigDict, *, save_every_steps: int,
               keep: int, use_async: bool = True):
    self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
    self.config = workdir_binding.flat_config(config)
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
      with orbax_noise.quiet_failed_reads():
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
    diffs = workdir_binding.config_differences(meta.get('config') or {}, self.config)
    if diffs:
      raise CheckpointError(f'checkpoint {where} was written by a different config:\n'
                            + workdir_binding.list_differences(diffs))
    return state, meta

  def wait(self):
    self._manager.wait_until_finished()

  def close(self):
    self._manager.wait_until_finished()
    self._manager.close()
