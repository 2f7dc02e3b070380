"""One checkpoint folder read outside the Checkpointer, its arrays and meta record verified.

Prediction (trained_model.py) and `init_from` read a training checkpoint's step folder
directly, without a CheckpointManager; both read it here, so the arrays are compared with the
checksums saved beside them and the meta record with its digest, as a restore does
(checkpointer.py). A checkpoint written before checksums existed reads unverified. A packed
state (`packed_state.py`) reads as nested dicts of its leaf names; `params` and `batch_stats`,
what these readers take, are nested dicts in either layout.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import checksums
from famipose_jax.checkpoints import orbax_noise
from famipose_jax.checkpoints import packed_state
from famipose_jax.runtime import multihost


def restore_untyped(path: str) -> Any:
  """A pytree of numpy arrays from an Orbax PyTree checkpoint directory."""
  with orbax_noise.quiet_missing_item_metadata():
    return _restore_item(path)


def _restore_item(path: str) -> Any:
  # Orbax's barriers are collectives on the devices, and on CPU gloo gives up on a first
  # collective after 30 s: every process waits here, however long another took to compile.
  multihost.barrier('restore ' + path)
  with ocp.PyTreeCheckpointer() as ckptr:
    metadata = ckptr.metadata(path)
    tree = metadata.item_metadata.tree if hasattr(metadata, 'item_metadata') else metadata.tree
    restore_args = jax.tree_util.tree_map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    return ckptr.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


def _read_json(path: str) -> Any:
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise checkpointer.CorruptCheckpointError(
        f'{path} cannot be read ({type(e).__name__}: {e}).') from e


def restore(path: str) -> Any:
  """The pytree of an Orbax item folder as numpy arrays; CorruptCheckpointError if unreadable."""
  try:
    with orbax_noise.quiet_failed_reads():
      return restore_untyped(path)
  except Exception as e:  # Orbax/tensorstore raise many types for damaged files.
    raise checkpointer.CorruptCheckpointError(
        f'{path} is corrupt or incomplete and cannot be read ({type(e).__name__}: '
        f'{str(e)[:300]}).') from e


def read_step_dir(step_dir: str) -> tuple[dict[str, Any], Any]:
  """(meta record, train state) of workdir/checkpoints/<step>, verified.

  Raises:
    CorruptCheckpointError: naming the folder (and the array, or the meta record), for files
      that cannot be read or do not match the checksums saved with them.
  """
  meta = _read_json(os.path.join(step_dir, 'meta', 'metadata'))
  if not isinstance(meta, dict) or not isinstance(meta.get('config'), dict):
    raise checkpointer.CorruptCheckpointError(
        f'{step_dir}/meta records no config: not a checkpoint written by train.py.')
  recorded_path = os.path.join(step_dir, checkpointer.CHECKSUMS_ITEM, 'metadata')
  recorded = _read_json(recorded_path) if os.path.exists(recorded_path) else None
  if recorded is not None and not checksums.meta_matches(recorded, meta):
    raise checkpointer.CorruptCheckpointError(
        f'checkpoint {step_dir} is corrupt: its meta record does not match the checksum saved '
        'with it.')
  layout_dir = os.path.join(step_dir, packed_state.LAYOUT_ITEM)
  layout = checkpointer.checked_layout(
      step_dir, _read_json(os.path.join(layout_dir, 'metadata'))
      if os.path.isdir(layout_dir) else None, recorded)
  if layout is not None:
    leaves = checkpointer.unpacked_leaves(step_dir, restore(os.path.join(step_dir, 'state')),
                                          layout)
    # Copies: callers keep the network's arrays, which must not keep the whole packed state
    # (the optimiser's moments too) alive.
    leaves = {name: np.array(value) for name, value in leaves.items()}
    state = packed_state.nested(leaves)
  else:
    state = restore(os.path.join(step_dir, 'state'))
    leaves = checksums.host_leaves(state) if recorded is not None else {}
  if recorded is not None:
    differing, compared = checksums.mismatches(recorded, leaves)
    if differing:
      raise checkpointer.CorruptCheckpointError(
          f'checkpoint {step_dir} is corrupt: {differing[0]} does not match the checksum saved '
          f'with it ({len(differing)} of {compared} arrays differ).')
  return meta, state
