"""A workdir file the file system refuses to write (disk full, read-only): one clear error.

train.py prints a WorkdirWriteError as one line naming the path and the reason, instead of the
traceback of the OSError underneath.
"""

from __future__ import annotations

import contextlib

from data_pipeline.errors import UserError


class WorkdirWriteError(UserError, OSError):
  """A file or folder of the workdir cannot be written; the message names it and the reason."""


def unwritable(path: str, error: OSError) -> WorkdirWriteError:
  """The WorkdirWriteError for `error`, raised while writing `path`."""
  reason = error.strerror or str(error)
  result = WorkdirWriteError(f'cannot write {path}: {reason}; free some space or make it '
                             'writable, or choose another --workdir.')
  result.errno = error.errno
  return result


@contextlib.contextmanager
def writing(path: str):
  """Turns an OSError raised inside into a WorkdirWriteError naming `path`."""
  try:
    yield
  except WorkdirWriteError:
    raise
  except OSError as e:
    raise unwritable(path, e) from e
