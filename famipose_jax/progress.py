"""A one-line progress bar with ETA, drawn only when stderr is an interactive terminal.

Logs and CI output stay free of carriage-return noise: when stderr is not a TTY the bar is silent
and the periodic log lines carry the progress instead.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
  seconds = max(0, int(round(seconds)))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f'{hours:d}:{minutes:02d}:{secs:02d}' if hours else f'{minutes:02d}:{secs:02d}'


class ProgressBar:
  """`update(done)` redraws `label [#####.....] done/total rate ETA` at most every `min_interval` s."""

  def __init__(self, total: int, label: str = '', *, start: int = 0, stream: TextIO | None = None,
               enabled: bool | None = None, width: int = 30, min_interval: float = 0.2):
    self.total = max(1, int(total))
    self.label = label
    self.stream = stream if stream is not None else sys.stderr
    if enabled is None:
      enabled = bool(getattr(self.stream, 'isatty', lambda: False)())
    self.enabled = enabled
    self.width = width
    self.min_interval = min_interval
    self._start_done = start
    self._start_time = time.monotonic()
    self._last_draw = 0.0
    self._suffix = ''

  def line(self, done: int, now: float | None = None) -> str:
    """The text of the bar after `done` of `total` units."""
    now = time.monotonic() if now is None else now
    done = min(int(done), self.total)
    filled = int(self.width * done / self.total)
    elapsed = now - self._start_time
    rate = (done - self._start_done) / elapsed if elapsed > 0 else 0.0
    eta = format_duration((self.total - done) / rate) if rate > 0 else '--:--'
    bar = '#' * filled + '.' * (self.width - filled)
    return (f'{self.label} [{bar}] {done}/{self.total} {rate:.2f}/s '
            f'ETA {eta}{self._suffix}')

  def update(self, done: int, suffix: str = ''):
    if not self.enabled:
      return
    self._suffix = f'  {suffix}' if suffix else ''
    now = time.monotonic()
    if done < self.total and now - self._last_draw < self.min_interval:
      return
    self._last_draw = now
    self.stream.write('\r' + self.line(done, now) + '\033[K')
    self.stream.flush()

  def close(self):
    if self.enabled:
      self.stream.write('\n')
      self.stream.flush()
