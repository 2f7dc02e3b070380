"""Runs the study: every planned run in order, skipping finished ones, resuming a stopped one.

A run is finished when its workdir holds `ablation_record.json` (written atomically after its
evaluation) and its config.json is still the config the grid asks for. A run stopped halfway
(Ctrl-C, SIGTERM, a crash, kill -9) resumes from its latest checkpoint: the trainer does that
when it is given the same workdir and config. Nothing is retrained to rebuild the report.

A run whose loss becomes NaN or infinite is a result, not a crash of the study: its record says
`failed` with the trainer's message, and the variants of a seed whose stage 1 failed are
reported failed without being trained (and without a record: they run once stage 1 does).
Training is deterministic, so to try a failed run again delete its workdir (its checkpoints
would resume just before the same NaN). Any other error stops the study with its message.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable

from data_pipeline import atomic_files
from famipose_jax.evaluation import loop as eval_loop
from famipose_jax.train import loop as trainer
from famipose_jax.ablation import grid
from famipose_jax.ablation import key_frame_subsets
from famipose_jax.checkpoints import workdir_binding

RECORD_FILE = 'ablation_record.json'


@dataclasses.dataclass
class Outcome:
  records: list[dict]              # finished runs (this invocation's and earlier ones)
  stopped_by: str | None           # 'SIGINT' / 'SIGTERM' when a run was interrupted


def _finished_record(run: grid.Run) -> dict | None:
  path = os.path.join(run.workdir, RECORD_FILE)
  if not os.path.isfile(path):
    return None
  # Refuses (ConfigMismatchError, naming the fields) a run made with another config.
  workdir_binding.bind_workdir(run.workdir, run.config, write=False)
  with open(path, encoding='utf-8') as f:
    return json.load(f)


def _failed_record(run: grid.Run, out: str, reason: str) -> dict:
  return {'seed': run.seed, 'run': run.variant, 'workdir': os.path.relpath(run.workdir, out),
          'failed': reason, 'rows': None}


def _record(run: grid.Run, summary: trainer.RunSummary, out: str, seconds: float) -> dict:
  """The numbers of one finished run, as results.json lists them."""
  evaluation = summary.evaluation
  config = run.config
  settings = dict(pckh_threshold=config.eval.pckh_threshold,
                  head_size_factor=config.eval.head_size_factor)
  degraded = key_frame_subsets.degraded_frames(config.data.root)
  rows = {}
  for name in evaluation['mAP']:       # 'final', and 'backbone' for the temporal models
    subsets = key_frame_subsets.subset_results(
        eval_loop.ground_truth_dir(config), os.path.join(evaluation['prediction_dir'], name),
        degraded, **settings)
    rows[name] = {'mAP': evaluation['mAP'][name], 'columns': evaluation['columns'][name],
                  **{f'{subset}_mAP': result.mean for subset, result in subsets.items()},
                  'frames': {subset: result.num_frames for subset, result in subsets.items()}}
  return {'seed': run.seed, 'run': run.variant, 'overrides': run.overrides,
          'workdir': os.path.relpath(run.workdir, out), 'step': summary.step,
          'wall_seconds': round(seconds, 1), 'rows': rows}


def _duration(seconds: float) -> str:
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}h{minutes:02d}m' if hours else f'{minutes}m{secs:02d}s'


def run_all(runs: list[grid.Run], out: str, log: Callable[[str], None] = print) -> Outcome:
  """Trains and evaluates every unfinished run of `runs`, in order; stops at a signal."""
  start = time.time()
  records, trained, todo = [], [], []
  for run in runs:
    record = _finished_record(run)
    if record is not None:
      records.append(record)
    else:
      todo.append(run)
  if records:
    log(f'[ablation] {len(records)} of {len(runs)} runs already finished in {out}: skipped')
  for i, run in enumerate(todo):
    stage1 = next((r for r in records if r['seed'] == run.seed and r['run'] == grid.STAGE1_DIR),
                  None)
    if run.variant != grid.STAGE1_DIR and stage1 is not None and stage1.get('failed'):
      records.append(_failed_record(run, out, f'stage 1 of seed {run.seed} failed'))
      continue
    done = len(runs) - len(todo) + i
    left = (f', about {_duration(sum(trained) / len(trained) * (len(todo) - i))} left'
            if trained else '')
    log(f'[ablation] run {done + 1} of {len(runs)}: seed {run.seed}, {run.variant} '
        f'(elapsed {_duration(time.time() - start)}{left})')
    began = time.time()
    try:
      summary = trainer.train_and_evaluate(run.config, run.workdir)
    except trainer.NonFiniteLossError as e:
      log(f'[ablation] {run.workdir} failed: {e}')
      summary, record = None, _failed_record(run, out, str(e))
    if summary is not None and summary.stopped_by:
      log(f'[ablation] stopped by {summary.stopped_by} during {run.workdir}; rerun the same '
          'command to continue from its checkpoint')
      return Outcome(records, summary.stopped_by)
    trained.append(time.time() - began)
    if summary is not None:
      record = _record(run, summary, out, trained[-1])
    os.makedirs(run.workdir, exist_ok=True)
    atomic_files.write_json_atomic(os.path.join(run.workdir, RECORD_FILE), record)
    records.append(record)
  return Outcome(records, None)
