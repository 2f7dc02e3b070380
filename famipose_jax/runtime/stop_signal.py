"""SIGTERM / SIGINT for a whole run: save and stop in the loop, stop at once elsewhere.

While training (`with stop.saving():`) the first signal only sets `requested`: the loop
finishes the step, saves a checkpoint and stops. A second signal, or any signal outside the
loop (start-up, evaluation), raises `Interrupted` at once. Checkpoints already written are
kept either way, and a save in flight is finished by the checkpointer's `close()`, which the
trainer runs on the way out. Every signal logs what it does.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading


class Interrupted(KeyboardInterrupt):
  """A signal stopped the run at once; `signal_name` says which ('SIGTERM', 'SIGINT')."""

  def __init__(self, signal_name: str, where: str):
    super().__init__(f'{signal_name} during {where}: stopped at once')
    self.signal_name = signal_name


class StopSignal(contextlib.AbstractContextManager):
  """Installs the handlers for its `with` block (main thread only; elsewhere it does nothing).

  Attributes:
    requested: the first signal's name once one arrived in the loop, else None.
  """

  def __init__(self):
    self.requested: str | None = None
    self._in_loop = False
    self._pending: Interrupted | None = None
    self._previous = {}

  def _handler(self, signum, frame):
    del frame
    name = signal.Signals(signum).name
    if self._in_loop and not self.requested:
      self.requested = name
      logging.warning('%s received: saving a checkpoint and stopping after this step (send it '
                      'again to stop at once).', name)
      return
    where = 'training, after a first signal' if self._in_loop else 'start-up or evaluation'
    logging.warning('%s received during %s: stopping at once; saved checkpoints are kept.',
                    name, where)
    # Kept as well as raised: a handler that runs inside a garbage-collection callback has its
    # exception swallowed, so the loop also raises it at the next step (`raise_pending`).
    self._pending = Interrupted(name, where)
    raise self._pending

  def raise_pending(self):
    """Re-raises a stop-at-once signal whose exception was swallowed where it arrived."""
    if self._pending is not None:
      raise self._pending

  @contextlib.contextmanager
  def saving(self):
    """The training loop: the first signal asks for a checkpoint instead of stopping."""
    self._in_loop = True
    try:
      yield self
    finally:
      self._in_loop = False

  @contextlib.contextmanager
  def at_once(self):
    """A stretch of the loop with nothing to save (an evaluation): a signal stops at once."""
    in_loop, self._in_loop = self._in_loop, False
    try:
      yield self
    finally:
      self._in_loop = in_loop

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for signum in (signal.SIGTERM, signal.SIGINT):
        self._previous[signum] = signal.signal(signum, self._handler)
    return self

  def __exit__(self, exc_type, exc, traceback):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous.clear()
    if exc is not None and self._pending is not None and exc is not self._pending:
      # The signal's exception was caught and replaced where it arrived (jax.make_mesh turns
      # any exception while it reads the devices into a ValueError about axis shapes): the
      # run stops because of the signal, and says so.
      raise self._pending from exc
    return False
