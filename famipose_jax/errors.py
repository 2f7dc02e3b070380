"""User errors, and how every command reports them.

`UserError` (data_pipeline/errors.py: the lowest layer defines it, so the data pipeline's errors
are user errors too) is the base of every error that is the user's to fix: a config field, a
file or folder, a workdir of another config, a damaged checkpoint, a diverged run. Each module
raises its own subclass (ConfigError, ConfigMismatchError, CheckpointError, BadInputError, ...)
naming what is wrong. `command` wraps a command's main function so that such an error, or an
OSError (a file the system cannot read or write: also the user's to fix), is printed as one
`error: ...` message with exit status 2, whatever the command; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable, Sequence

from data_pipeline.errors import ConfigError, InvalidInputError, MissingInputError
from data_pipeline.errors import RefusedOverwriteError, UsageError, UserError

__all__ = ['ConfigError', 'InvalidInputError', 'MissingInputError', 'RefusedOverwriteError',
           'UsageError', 'UserError', 'EXIT_USER_ERROR', 'command', 'report']

EXIT_USER_ERROR = 2


def report(error: UserError | OSError) -> int:
  """Prints `error: <message>` on stderr (and the notes added to it, e.g. that closing the
  checkpoints failed as well); returns EXIT_USER_ERROR."""
  lines = [f'error: {error}'] + [f'  ({note})' for note in getattr(error, '__notes__', ())]
  print('\n'.join(lines), file=sys.stderr, flush=True)
  return EXIT_USER_ERROR


def command(main: Callable[[Sequence[str] | None], int]) -> Callable[[Sequence[str] | None], int]:
  """`main(argv) -> exit status`, with a UserError or OSError reported as one message and
  status 2."""

  @functools.wraps(main)
  def run(argv: Sequence[str] | None = None) -> int:
    try:
      return main(argv)
    except (UserError, OSError) as e:
      return report(e)

  return run
