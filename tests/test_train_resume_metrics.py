"""Metrics after a crash and a resume: each step logged once, each mean over the same steps."""

import json
import os

import pytest
from tensorboard.backend.event_processing import event_accumulator

from famipose_jax.train import metrics
from famipose_jax.train import loop as trainer
from tests.train_support import edit_training_batches, smoke_config

# Wall-clock entries differ between any two runs.
WALL_CLOCK_KEYS = ('time', 'clips_per_second')


class _Crash(Exception):
  """Stands in for kill -9: the run ends in the middle of an epoch, without a last save."""


def _crash_before_step(monkeypatch, crash_step: int):
  """Training loaders raise _Crash when asked for the batch of step index `crash_step`."""

  def crash(step, fetch):
    if step == crash_step:
      raise _Crash(f'crash before step index {crash_step}')
    return fetch()

  return edit_training_batches(monkeypatch, crash)


def _jsonl(workdir):
  with open(os.path.join(workdir, metrics.METRICS_FILE)) as f:
    records = [json.loads(line) for line in f]
  return [{k: v for k, v in r.items() if k not in WALL_CLOCK_KEYS} for r in records]


def _tensorboard(workdir):
  """{tag: [(step, value), ...]} as TensorBoard's own loader shows the run."""
  accumulator = event_accumulator.EventAccumulator(
      os.path.join(workdir, metrics.TENSORBOARD_DIR), size_guidance={'scalars': 0})
  accumulator.Reload()
  return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()['scalars']
          if tag.split('/', 1)[1] not in WALL_CLOCK_KEYS}


@pytest.mark.slow
def test_metrics_of_a_crashed_and_resumed_run_match_an_uninterrupted_one(
    tmp_path, monkeypatch, compile_cache, tiny_dataset):
  # Checkpoints every 3 steps, log lines every 2: the crash below comes after the line of step
  # 16, the last checkpoint is step 15, in the middle of the window of steps 15-16.
  config = smoke_config(tiny_dataset, num_epochs=2, **{'train.checkpoint_every_steps': 3})
  full = str(tmp_path / 'full')
  trainer.train(config, full)

  interrupted = str(tmp_path / 'interrupted')
  restore_loader = _crash_before_step(monkeypatch, 17)
  with pytest.raises(_Crash):
    trainer.train(config, interrupted)
  restore_loader()
  assert max(r['step'] for r in _jsonl(interrupted)) == 16
  assert sorted(int(s) for s in os.listdir(os.path.join(interrupted, 'checkpoints')))[-1] == 15
  trainer.train(config, interrupted)

  expected = _jsonl(full)
  steps = [r['step'] for r in expected]
  assert len(steps) == len(set(steps)) >= 8
  assert _jsonl(interrupted) == expected
  expected_scalars = _tensorboard(full)
  assert [s for s, _ in expected_scalars['train/loss']] == steps
  assert _tensorboard(interrupted) == expected_scalars
