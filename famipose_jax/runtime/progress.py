"""Progress bars for training and evaluation, drawn with rich only when stderr is a terminal.

Logs and CI output stay free of control characters: when stderr is not a terminal, or on any
process but 0, the bar is silent and the periodic log lines carry the progress instead. Bars
open at the same time on one stream (evaluation inside a training epoch) share one rich display,
one line each.
"""

from __future__ import annotations

import atexit
import sys
from typing import TextIO

from rich import progress as rich_progress
from rich.console import Console
from rich.text import Text

# One live display per stream: rich draws only one at a time on a terminal.
_DISPLAYS: dict[int, rich_progress.Progress] = {}


class _RateColumn(rich_progress.ProgressColumn):
  """Units per second, from rich's recent-speed estimate."""

  def render(self, task: rich_progress.Task) -> Text:
    return Text(f'{task.speed:.2f}/s' if task.speed else '--/s')


def _display(stream: TextIO, bar_width: int) -> rich_progress.Progress:
  """The running display on `stream`, started on first use."""
  display = _DISPLAYS.get(id(stream))
  if display is None:
    on_stderr = stream is sys.stderr
    display = rich_progress.Progress(
        rich_progress.TextColumn('{task.description}'), rich_progress.BarColumn(bar_width),
        rich_progress.MofNCompleteColumn(), _RateColumn(), rich_progress.TextColumn('ETA'),
        rich_progress.TimeRemainingColumn(), rich_progress.TextColumn('{task.fields[postfix]}'),
        console=Console(file=stream, force_terminal=True),
        auto_refresh=False,   # redrawn by update(): no thread beside the training loop
        # Other prints go above the bar; stdout only when it shares the terminal.
        redirect_stderr=on_stderr, redirect_stdout=on_stderr and _is_terminal(sys.stdout))
    display.start()
    _DISPLAYS[id(stream)] = display
  return display


def _is_terminal(stream) -> bool:
  return bool(getattr(stream, 'isatty', lambda: False)())


def _process_index() -> int:
  import jax  # pylint: disable=g-import-not-at-top (only asked when a terminal would draw)
  return jax.process_index()


def say(message: str) -> None:
  """A progress line for people, on stdout of process 0 (absl logging carries the details)."""
  if _process_index() == 0:
    print(message, flush=True)


class ProgressBar:
  """`update(done, text)` redraws `label ━━━ done/total rate ETA time text`.

  Redrawn at most every `min_interval` seconds, and at the end. enabled=None draws when `stream`
  is a terminal and this is process 0; True or False decides. `start` is where a resumed run
  begins: the rate counts only the units done since.
  """

  def __init__(self, total: int, label: str = '', *, start: int = 0, stream: TextIO | None = None,
               enabled: bool | None = None, width: int = 30, min_interval: float = 0.2):
    self.total = max(1, int(total))
    self.stream = stream if stream is not None else sys.stderr
    if enabled is None:
      enabled = _is_terminal(self.stream) and _process_index() == 0
    self.enabled = bool(enabled)
    self.min_interval = min_interval
    self._display = None
    if self.enabled:
      self._display = _display(self.stream, width)
      self._task = self._display.add_task(label, total=self.total, completed=min(start, self.total),
                                          postfix='')
      self._last_draw = 0.0
      atexit.register(self.close)   # a run that dies mid-loop still gets its cursor back

  def update(self, done: int, suffix: str = ''):
    if self._display is None:
      return
    done = min(int(done), self.total)
    self._display.update(self._task, completed=done, postfix=suffix)
    now = self._display.get_time()
    if done == self.total or now - self._last_draw >= self.min_interval:
      self._last_draw = now
      self._display.refresh()

  def close(self):
    """Ends this bar: the last one on its stream stays on screen, others make room."""
    if self._display is None:
      return
    display, self._display = self._display, None
    atexit.unregister(self.close)
    if len(display.task_ids) > 1:
      display.remove_task(self._task)
      display.refresh()
    else:
      display.stop()
      _DISPLAYS.pop(id(self.stream), None)
