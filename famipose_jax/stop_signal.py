"""SIGTERM / SIGINT during training: finish the step, save a checkpoint, then stop."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading


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
