"""Writing files so that a reader, or a crash, never leaves a half-written one behind.

The data goes to a temporary file in the destination's folder (so the rename stays on one file
system), is flushed to disk, and replaces the destination with `os.replace`; the folder is then
flushed too, so the rename itself survives a power loss. On failure the temporary file is
removed and the old file, if any, is left as it was. No jax import: data_pipeline and
famipose_jax both use it.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_bytes_atomic(path: str, data: bytes):
  """Replaces `path` with `data` in one step (creating its folder if needed)."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path), suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  _fsync_folder(folder)


def write_json_atomic(path: str, document: Any, *, compact: bool = False,
                      allow_nan: bool = True):
  """Writes `document` as JSON to `path` with `write_bytes_atomic`.

  Args:
    path: destination file.
    document: anything `json.dumps` accepts.
    compact: one line with keys in document order (large annotation files); otherwise indented
      with sorted keys, for records people read (config.json, results).
    allow_nan: False refuses NaN and infinities (ValueError) instead of writing the
      non-standard tokens NaN / Infinity, which other JSON readers reject.
  """
  if compact:
    text = json.dumps(document, allow_nan=allow_nan)
  else:
    text = json.dumps(document, indent=1, sort_keys=True, allow_nan=allow_nan) + '\n'
  write_bytes_atomic(path, text.encode('utf-8'))


def _fsync_folder(folder: str):
  """Flushes the folder entry of a rename; skipped where folders cannot be opened (Windows)."""
  try:
    fd = os.open(folder, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass  # some file systems refuse fsync on a folder; the data itself is already on disk
  finally:
    os.close(fd)
