"""What the training loop does around each step, as named helpers (train/loop.py's `_loop`).

  StepMetrics   every step's metrics, read one step late (no host sync inside the loop): a
                non-finite loss stops the run naming the last good checkpoint; the rest is
                averaged into log lines (metrics.jsonl, TensorBoard, the progress bar)
  StopPoll      whether to stop after a step: the signal this process saw, or with several
                processes the step they all agreed on (multihost.StopVote)
  save_due / evaluation_due   when a checkpoint is written and an evaluation runs
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

import jax

from data_pipeline.errors import UserError
from famipose_jax.runtime import multihost


class NonFiniteLossError(UserError, FloatingPointError):
  """The loss or gradient became NaN/inf; the message names the step and the last checkpoint."""


def host_scalars(metrics: dict[str, Any]) -> dict[str, float]:
  return {k: float(v) for k, v in jax.device_get(metrics).items()}


def finite(values: dict[str, float]) -> bool:
  return math.isfinite(values['loss']) and math.isfinite(values['grad_norm'])


class StepMetrics:
  """Checks and logs each step's metrics one step after it was dispatched.

  Args:
    window: the metric sums since the last log line (metric_window.MetricWindow).
    writer: metrics.MetricsWriter.
    bar: the progress bar.
    ckpt: the Checkpointer (named when the loss goes non-finite).
    log_every: config.train.log_every_steps.
    total_steps, steps_per_epoch, batch_size: for the log line.
    echo: prints a log line for people (when no progress bar is drawn).
  """

  def __init__(self, *, window, writer, bar, ckpt, log_every: int, total_steps: int,
               steps_per_epoch: int, batch_size: int, echo: Callable[[str], None],
               objective_label: str | None = None):
    self.window = window
    self._objective_label = objective_label     # None: the family has no objective to show
    self._writer, self._bar, self._ckpt, self._echo = writer, bar, ckpt, echo
    self._log_every, self._total = log_every, total_steps
    self._steps_per_epoch, self._batch_size = steps_per_epoch, batch_size
    self._pending = None                       # (step, metrics) dispatched, not yet checked
    self._timed_steps, self._interval_start = 0, time.time()

  def dispatched(self, step: int, metrics: dict[str, Any]) -> None:
    """Step `step` was dispatched: the previous one is checked now, this one next time."""
    self.check_pending()
    self._pending = (step, metrics)

  def check_pending(self) -> None:
    """Checks the step not yet checked (before a save: never save a non-finite state)."""
    if self._pending is not None:
      pending, self._pending = self._pending, None
      self._check(*pending)

  def _check(self, step: int, metrics: dict[str, Any]) -> None:
    values = host_scalars(metrics)
    if not finite(values):
      self._ckpt.wait()
      last = self._ckpt.latest_step()
      where = (f'the last good checkpoint is {self._ckpt.step_dir(last)} (nothing later was '
               'saved)' if last is not None else 'no checkpoint was saved before this step')
      raise NonFiniteLossError(
          f'non-finite loss at step {step + 1} ('
          + ', '.join(f'{k}={v:.4g}' for k, v in sorted(values.items())) + f'). Stopped; {where}.')
    self.window.add(values)
    self._timed_steps += 1
    done = step + 1
    self._bar.update(done, f"loss {values['loss']:.3g}")
    if done % self._log_every == 0 or done == self._total:
      self._write_line(done)

  def _write_line(self, done: int) -> None:
    elapsed = time.time() - self._interval_start
    means = self.window.means()
    means['clips_per_second'] = self._timed_steps * self._batch_size / max(elapsed, 1e-9)
    means['epoch'] = done / self._steps_per_epoch
    self._writer.write(done, means)
    logging.info('step %d: %s', done, means)
    if not self._bar.enabled:
      terms = f'task {means["task_loss"]:.4g}'
      if self._objective_label is not None:
        terms += f', {self._objective_label} {means["mi_loss"]:.4g}'
      self._echo(f'step {done}/{self._total} loss {means["loss"]:.4g} ({terms}) lr '
                 f'{means["learning_rate"]:.2g} {means["clips_per_second"]:.1f} clips/s')
    self.window.clear()
    self._timed_steps, self._interval_start = 0, time.time()


class StopPoll:
  """Whether the run stops after a step, and which signal stops it ('SIGTERM', 'SIGINT').

  One process stops at the step after its signal. Several processes each get their own signal
  at their own step: each casts what it has seen after every step and reads the vote of the
  step before (a replicated max, read one step late like the metrics), so all stop at one step.
  """

  def __init__(self, stop, mesh):
    self._stop = stop
    self._vote = multihost.StopVote(mesh) if jax.process_count() > 1 else None
    self._pending_vote = None

  def after_step(self) -> str | None:
    if self._vote is None:
      return self._stop.requested   # read once: a signal between two reads would skip the save
    stopping = self._vote.result(self._pending_vote)   # what every process saw a step ago
    self._pending_vote = self._vote.cast(self._stop.requested)
    return stopping

  def at_end(self) -> str | None:
    """After the last step: a signal after the last vote stops every process, or none."""
    if self._vote is None:
      return None
    return self._vote.result(self._vote.cast(self._stop.requested))


def save_due(train_config, done: int, *, epoch_end: bool, stopping, total_steps: int
             ) -> tuple[bool, bool]:
  """(save a checkpoint after step `done`, force it past the save interval)."""
  force = epoch_end or bool(stopping) or done == total_steps
  return force or done % train_config.checkpoint_every_steps == 0, force


def evaluation_due(train_config, done: int, *, steps_per_epoch: int, total_steps: int) -> bool:
  """An evaluation after this epoch (train.eval_every_epochs; the final one runs after the loop)."""
  every = train_config.eval_every_epochs
  return (every > 0 and done % steps_per_epoch == 0 and done < total_steps
          and (done // steps_per_epoch) % every == 0)
