"""SHA-256 checksums of the arrays of a pytree: computed before a save, compared after a read.

Orbax reads back whatever bytes an array file holds: a flipped bit in a chunk restores without
an error, as a wrong value. The manifest, {leaf path: SHA-256 of its dtype, shape and bytes},
is computed on the host from the state being saved and is saved as a JSON item of the same
checkpoint, so Orbax commits it together with the arrays (a checkpoint has both or neither).
It also holds the SHA-256 of the checkpoint's meta record (step, epoch, log window, config):
a flipped byte there may still read as JSON, as another step or another config; and of a
packed state's layout (`packed_state.py`), which says where each leaf lies.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

import jax
import numpy as np

ALGORITHM = 'sha256'


def leaf_name(path) -> str:
  """'params/model/backbone/conv1/kernel' for a jax.tree_util key path."""
  parts = []
  for key in path:
    for attribute in ('key', 'name', 'idx'):   # DictKey, GetAttrKey, SequenceKey
      if hasattr(key, attribute):
        parts.append(str(getattr(key, attribute)))
        break
    else:
      parts.append(str(key))
  return '/'.join(parts)


def _has_full_copy(leaf) -> bool:
  # An array sharded over several processes has no full copy on this host: left unchecked.
  return not isinstance(leaf, jax.Array) or leaf.is_fully_addressable or leaf.is_fully_replicated


def _digest(value) -> str:
  array = np.ascontiguousarray(value)
  digest = hashlib.sha256(f'{array.dtype.name}{array.shape}'.encode())
  digest.update(array.reshape(-1).view(np.uint8))
  return digest.hexdigest()


def host_leaves(tree: Any) -> dict[str, np.ndarray]:
  """{leaf name: host array} for every leaf of `tree` with a full copy on this host."""
  named = [(leaf_name(path), leaf)
           for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0] if _has_full_copy(leaf)]
  values = jax.device_get([leaf for _, leaf in named])   # one transfer for all leaves
  return {name: value for (name, _), value in zip(named, values)}


def leaf_checksums(leaves: Mapping[str, Any]) -> dict[str, str]:
  """{leaf name: hex digest} of named host arrays."""
  return {name: _digest(value) for name, value in leaves.items()}


def record_digest(record: Mapping[str, Any]) -> str:
  """The SHA-256 of a JSON record as it reads back (tuples as lists, keys sorted)."""
  canonical = json.dumps(json.loads(json.dumps(record)), sort_keys=True, separators=(',', ':'))
  return hashlib.sha256(canonical.encode('utf-8')).hexdigest()


def manifest(leaves: Mapping[str, Any], meta: Mapping[str, Any] | None = None,
             layout: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """The JSON document saved beside named host arrays (`host_leaves`), the checkpoint's `meta`
  and, for a packed state, its `layout`."""
  document = {'algorithm': ALGORITHM, 'leaves': leaf_checksums(leaves)}
  if meta is not None:
    document['meta'] = record_digest(meta)
  if layout is not None:
    document['layout'] = record_digest(layout)
  return document


def meta_matches(recorded: Mapping[str, Any], meta: Mapping[str, Any]) -> bool:
  """Whether `meta` is the record the manifest was saved with (a manifest written before meta
  digests existed matches any)."""
  return 'meta' not in recorded or recorded['meta'] == record_digest(meta)


def layout_matches(recorded: Mapping[str, Any], layout: Mapping[str, Any]) -> bool:
  """Whether `layout` is the packed-state layout the manifest was saved with."""
  return recorded.get('layout') == record_digest(layout)


def mismatches(recorded: Mapping[str, Any], leaves: Mapping[str, Any]) -> tuple[list[str], int]:
  """(names of the named host arrays `leaves` whose checksum differs from `recorded`, leaves
  compared)."""
  expected = recorded.get('leaves', {})
  actual = leaf_checksums({name: value for name, value in leaves.items() if name in expected})
  compared = [name for name in expected if name in actual]
  return [name for name in compared if actual[name] != expected[name]], len(compared)
