"""`config.init_from`: model variables from a converted PyTorch checkpoint or another workdir.

`load_variables` reads {'params', 'batch_stats'} as numpy arrays (a workdir's checkpoint
verified against its checksums, as a restore is); `merge_variables` places them into a freshly
initialised model, module by module, with exactly matching shapes.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import jax
import numpy as np

from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import orbax_noise
from famipose_jax.checkpoints import verified_read

# The converter's output: OUT_DIR/variables = {'params', 'batch_stats'}.
VARIABLES_DIR = 'variables'


restore_untyped = verified_read.restore_untyped


def load_variables(source: str) -> dict[str, Any]:
  """{'params', 'batch_stats'} as numpy arrays from `source`.

  `source` is either the converter's output directory (holding `variables/`) or a training
  workdir (its latest checkpoint's model variables).

  Raises:
    CheckpointError: naming `source`, if it is neither or cannot be read.
  """
  source = os.path.abspath(source)
  try:
    with orbax_noise.quiet_failed_reads():
      return _load_variables(source)
  except checkpointer.CorruptCheckpointError as e:
    raise checkpointer.CorruptCheckpointError(f'init_from={source}: {e.reason}') from e
  except checkpointer.CheckpointError:
    raise
  except (KeyError, TypeError) as e:
    raise checkpointer.CheckpointError(
        f'init_from={source}: unexpected checkpoint structure ({e}).') from e
  except Exception as e:
    raise checkpointer.CheckpointError(
        f'init_from={source}: cannot read it ({type(e).__name__}: {str(e)[:500]}).') from e


def _load_variables(source: str) -> dict[str, Any]:
  if os.path.isdir(os.path.join(source, VARIABLES_DIR)):
    tree = restore_untyped(os.path.join(source, VARIABLES_DIR))
    return {'params': tree['params'], 'batch_stats': tree.get('batch_stats', {})}
  ckpt_dir = os.path.join(source, checkpointer.CHECKPOINT_DIR)
  steps = sorted(int(s) for s in os.listdir(ckpt_dir) if s.isdigit()) \
      if os.path.isdir(ckpt_dir) else []
  if steps:
    # Verified as a restore is: a damaged checkpoint must not initialise a run silently.
    _, state = verified_read.read_step_dir(os.path.join(ckpt_dir, str(steps[-1])))
    return {'params': state['params']['model'], 'batch_stats': state['batch_stats']}
  raise checkpointer.CheckpointError(
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

  Raises:
    CheckpointError: naming the variable, for a missing counterpart or a different shape.
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
          raise checkpointer.CheckpointError(
              f'init_from={source}: {collection}/{"/".join(path)} has no counterpart in this '
              'model (a different architecture?).')
        continue  # a module this model does not have (e.g. FAMI-Pose additions into a baseline)
      if tuple(np.shape(node[path[-1]])) != tuple(np.shape(value)):
        raise checkpointer.CheckpointError(
            f'init_from={source}: {collection}/{"/".join(path)} has shape {np.shape(value)}, '
            f'the model expects {np.shape(node[path[-1]])}.')
      node[path[-1]] = np.asarray(value, dtype=np.asarray(node[path[-1]]).dtype)
      loaded_modules.add(path[0])
  return merged, sorted(loaded_modules)


def _to_dict(tree):
  if isinstance(tree, Mapping):
    return {k: _to_dict(v) for k, v in tree.items()}
  return tree
