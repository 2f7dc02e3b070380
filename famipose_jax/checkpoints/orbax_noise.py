"""Keeping Orbax's spurious reports out of the log: tracebacks after a failed read or write, and
a warning.

None of them says anything the caller's own error or result does not; all would bury it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time


@contextlib.contextmanager
def quiet_failed_reads(quiet_seconds: float = 0.25, limit_seconds: float = 3.0):
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


class _DropMissingItemMetadata(logging.Filter):
  """Drops Orbax's warning that an item folder has no _CHECKPOINT_METADATA."""

  def filter(self, record: logging.LogRecord) -> bool:
    return 'Metadata file does not exist' not in record.getMessage()


@contextlib.contextmanager
def quiet_missing_item_metadata():
  """While active, Orbax does not warn that an item folder has no _CHECKPOINT_METADATA.

  A training checkpoint keeps that file one level up (the step folder, written by the
  CheckpointManager), so reading its `state` item alone always warns, about nothing.
  """
  with _absl_filter(_DropMissingItemMetadata()):
    yield


class _OneLineWriteErrors(logging.Filter):
  """Keeps the message of Orbax's error records and drops their tracebacks."""

  def filter(self, record: logging.LogRecord) -> bool:
    if (record.levelno >= logging.ERROR and record.exc_info
        and f'{os.sep}orbax{os.sep}' in (record.pathname or '')):
      record.msg = f'{record.getMessage()} ({record.exc_info[1]!r})'
      record.args = None
      record.exc_info = None
      record.exc_text = None
    return True


@contextlib.contextmanager
def one_line_write_errors():
  """While active, Orbax's reports of a failed save are one line each, not a traceback each.

  A failed asynchronous save (a full disk) makes Orbax log the same exception with its
  traceback from three threads; the Checkpointer raises it once, as a CheckpointError that
  names the checkpoint folder and the reason.
  """
  with _absl_filter(_OneLineWriteErrors()):
    yield


@contextlib.contextmanager
def _absl_filter(record_filter: logging.Filter):
  """`record_filter` on absl's logger (where Orbax logs) while active."""
  absl_logger = logging.getLogger('absl')
  absl_logger.addFilter(record_filter)
  try:
    yield
  finally:
    absl_logger.removeFilter(record_filter)
