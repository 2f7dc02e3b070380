"""The training loop: `train_and_evaluate(config, workdir)` and `evaluate(config, workdir)`.

A run locks its workdir for its whole length (workdir_lock: a second run there is refused
before it writes), binds it to its config (workdir_binding.bind_workdir), resumes from the latest
checkpoint there, feeds the jitted step in the data order the batch plan fixes (so a resumed
run sees exactly the batches an uninterrupted one would), checks every step's loss one step
late, saves on an interval, at every epoch end and on SIGTERM/SIGINT, and evaluates at the end.

With `train.pretrain_epochs > 0` (the synthetic demo, where no PoseTrack-trained HRNet exists)
the run has two stages, as the video families are published on top of a trained HRNet:
  stage 1  workdir/pretrain: the single-frame HRNet (family 'single_frame', backbone trained),
           pretrain_epochs epochs, lr decayed at train.pretrain_lr_decay_epochs;
  stage 2  workdir: the configured family initialised from stage 1 (init_from).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import jax
import ml_collections

import data_pipeline
from data_pipeline import atomic_files
from famipose_jax import errors
from famipose_jax.config import schema as config_schema
from famipose_jax.evaluation import loop as eval_loop
from famipose_jax import experiment as experiment_lib
from famipose_jax.models import registry
from famipose_jax.train import datasets
from famipose_jax.train import loop_helpers
from famipose_jax.train import metric_window
from famipose_jax.train.loop_helpers import NonFiniteLossError  # noqa: F401 (raised by the loop)
from famipose_jax.train import metrics as metrics_lib
from famipose_jax.runtime import multihost
from famipose_jax.runtime import progress
from famipose_jax.runtime import sharding
from famipose_jax.runtime import stop_signal
from famipose_jax.train import stages
from famipose_jax.train import state as train_state_lib
from famipose_jax.checkpoints import workdir_errors
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import init_from
from famipose_jax.checkpoints import workdir_binding
from famipose_jax.checkpoints import workdir_lock

RESULTS_FILE = 'eval_results.json'


@dataclasses.dataclass
class RunSummary:
  """What a finished (or stopped) run reports."""
  workdir: str
  step: int
  total_steps: int
  stopped_by: str | None = None        # 'SIGTERM' / 'SIGINT' when interrupted
  checkpoint: str | None = None
  evaluation: dict[str, Any] | None = None   # {'table', 'mAP': {row: mean}, ...}
  train_seconds: float = 0.0
  pretrain: 'RunSummary | None' = None       # stage 1 of a two-stage run


log = progress.say   # progress lines for people: stdout of process 0


def fresh_state(experiment: experiment_lib.Experiment, mesh) -> train_state_lib.TrainState:
  """A new state, with the network's variables from config.init_from when it names them."""
  config = experiment.config
  state = experiment.init_state(mesh)
  if config.init_from:
    loaded = init_from.load_variables(config.init_from)
    merged, modules = init_from.merge_variables(
        jax.device_get(experiment_lib.model_variables(state)), loaded, config.init_from)
    log(f'initialised {", ".join(modules)} from {config.init_from}')
    state = train_state_lib.with_model_variables(state, merged, experiment.tx, mesh)
  return state


def _has_checkpoints(workdir: str) -> bool:
  folder = os.path.join(workdir, checkpointer.CHECKPOINT_DIR)
  return os.path.isdir(folder) and any(name.isdigit() for name in os.listdir(folder))


def restore_checkpoint(ckpt: checkpointer.Checkpointer, config: ml_collections.ConfigDict,
                       abstract_state) -> tuple[Any, dict[str, Any]]:
  """The latest checkpoint, or with train.on_corrupt_checkpoint='fall_back' the newest intact."""
  if config.train.on_corrupt_checkpoint == 'fall_back':
    return ckpt.restore_latest_intact(abstract_state)
  return ckpt.restore(ckpt.latest_step(), abstract_state)


def _save_results(workdir: str, step: int, evaluation: dict[str, Any]) -> dict[str, Any]:
  summary = {
      'step': step, 'table': evaluation['table'],
      'prediction_dir': evaluation['prediction_dir'], 'image': evaluation['image'],
      'mAP': {name: result.mean for name, result in evaluation['results'].items()},
      'columns': {name: result.columns for name, result in evaluation['results'].items()},
  }
  if evaluation.get('tracking'):   # ground-truth boxes with their track ids
    summary['tracking'] = {name: result.columns
                           for name, result in evaluation['tracking'].items()}
  if jax.process_index() == 0:
    path = os.path.join(workdir, RESULTS_FILE)
    with workdir_errors.writing(path):
      atomic_files.write_json_atomic(path, summary)
  return summary


def _final_evaluation(experiment, state, mesh, workdir: str, step: int, writer,
                      val_inputs) -> dict[str, Any]:
  """The table of the trained state (read back when this step was evaluated already), logged."""
  evaluation = _load_results(workdir, step)
  if evaluation is None:
    log(f'evaluating step {step} on val')
    scored = eval_loop.evaluate_model(
        experiment, experiment_lib.model_variables(state), mesh, workdir, step, writer,
        inputs=val_inputs, show_progress=experiment.config.train.progress_bar)
    evaluation = _save_results(workdir, step, scored)
    log(f'evaluation took {scored["seconds"]:.0f} s')
  log(evaluation['table'])
  return evaluation


def _load_results(workdir: str, step: int) -> dict[str, Any] | None:
  import json  # pylint: disable=g-import-not-at-top
  try:
    with open(os.path.join(workdir, RESULTS_FILE), encoding='utf-8') as f:
      summary = json.load(f)
  except (OSError, ValueError):
    return None
  return summary if summary.get('step') == step else None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> RunSummary:
  """Trains `config` in `workdir` (resuming if it holds checkpoints) and evaluates the result.

  Returns:
    The RunSummary of the (last) stage. Raises ConfigError, WorkdirLockedError (another run
    holds the workdir), ConfigMismatchError, CheckpointError or NonFiniteLossError with messages
    naming the field, folder or step.
  """
  config_schema.validate_config(config)
  multihost.initialize(config.train)
  workdir = os.path.abspath(workdir)
  # The lock comes before anything is written; signals are handled for the whole run.
  with workdir_lock.WorkdirLock(workdir, jax.process_index()), \
      stop_signal.StopSignal() as stop:
    return _train_stages(config, workdir, stop)


def _train_stages(config: ml_collections.ConfigDict, workdir: str,
                  stop: stop_signal.StopSignal) -> RunSummary:
  """`train_and_evaluate` with the workdir locked: both stages hold the one lock of `workdir`."""
  if config.train.pretrain_epochs:
    stage1 = stages.pretrain_config(config)
    pre_dir = os.path.join(workdir, stages.PRETRAIN_DIR)
    # Both stages' configs are checked against their folders before either trains.
    workdir_binding.bind_workdir(pre_dir, stage1, write=False)
    stage2 = ml_collections.ConfigDict(config.to_dict())
    stage2.train.pretrain_epochs = 0
    stage2.init_from = pre_dir
    workdir_binding.bind_workdir(workdir, stage2, write=False)
    log(f'== stage 1/2: single-frame HRNet baseline ({stage1.num_epochs} epochs) in {pre_dir}')
    first = _train(stage1, pre_dir, evaluate=True, stop=stop)
    if first.stopped_by:
      return first
    log(f'== stage 2/2: {registry.of(config).label} on the stage-1 backbone '
        f'({config.num_epochs} epochs) in {workdir}')
    second = _train(stage2, workdir, evaluate=True, stop=stop)
    second.pretrain = first
    return second
  return _train(config, workdir, evaluate=True, stop=stop)


def train(config: ml_collections.ConfigDict, workdir: str) -> RunSummary:
  """Trains (or resumes) `config` in `workdir` without the final evaluation (one stage)."""
  config_schema.validate_config(config)
  if config.train.pretrain_epochs:
    raise config_schema.ConfigError('train() runs one stage; use train_and_evaluate for '
                                    f'train.pretrain_epochs={config.train.pretrain_epochs}')
  multihost.initialize(config.train)
  workdir = os.path.abspath(workdir)
  with workdir_lock.WorkdirLock(workdir, jax.process_index()), \
      stop_signal.StopSignal() as stop:
    return _train(config, workdir, evaluate=False, stop=stop)


def _train(config: ml_collections.ConfigDict, workdir: str, evaluate: bool,
           stop: stop_signal.StopSignal) -> RunSummary:
  # Everything the config and the data can get wrong fails here, before the workdir is
  # written: a corrected command must find the workdir as the failed one found it.
  workdir_binding.bind_workdir(workdir, config, write=False)   # refuses another config's workdir
  log(f'preparing {workdir}: checking the config, the data and the network')
  datasets.ensure_dataset(config)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.batch_size, mesh)
  train_set = experiment_lib.Experiment(config).dataset('train')
  steps_per_epoch = experiment_lib.steps_per_epoch(config, len(train_set))
  total_steps = config.num_epochs * steps_per_epoch
  experiment = experiment_lib.Experiment(config, steps_per_epoch)   # the schedule needs it
  abstract_state = experiment.abstract_state(mesh)   # traces the network: shape errors here
  val_inputs = None
  if evaluate or config.train.eval_every_epochs:
    val_inputs = eval_loop.prepare_evaluation(experiment)
  # A fresh start builds its state (init_from included) before Orbax creates checkpoints/.
  resuming = _has_checkpoints(workdir)
  if not resuming:
    state, meta = fresh_state(experiment, mesh), {}
  ckpt = checkpointer.Checkpointer(
      workdir, config, save_every_steps=config.train.checkpoint_every_steps,
      keep=config.train.keep_checkpoints, use_async=config.train.async_checkpointing)
  with checkpointer.closed_after(ckpt):
    if resuming:
      state, meta = restore_checkpoint(ckpt, config, abstract_state)
      log(f'resumed from {ckpt.step_dir(meta["step"])}')
    # Only now, with a state that fits the config, does the workdir become this config's.
    workdir_binding.bind_workdir(workdir, config)
    start_step = int(jax.device_get(state.step))
    if start_step > total_steps:
      log(f'{workdir} is at step {start_step}, past num_epochs={config.num_epochs} '
          f'({total_steps} steps): nothing to train; reporting step {start_step}')
    summary = RunSummary(workdir=workdir, step=start_step, total_steps=total_steps)
    writer = metrics_lib.MetricsWriter(workdir, enabled=jax.process_index() == 0,
                                       resume_step=start_step)
    try:
      if writer.dropped_lines:
        log(f'dropped {writer.dropped_lines} line(s) after step {start_step} from '
            f'{writer.jsonl_path}: they are logged again')
      if start_step < total_steps:
        window = metric_window.MetricWindow.from_meta(meta)
        stage = _Stage(config=config, workdir=workdir, experiment=experiment, mesh=mesh,
                       train_set=train_set, val_inputs=val_inputs, ckpt=ckpt, writer=writer,
                       stop=stop, steps_per_epoch=steps_per_epoch, total_steps=total_steps)
        with stop.saving():
          state = _loop(stage, state, window, summary)
        # A signal that arrived after the last step's save (the loop did not see it) stops
        # too (several processes agreed on it at the end of the loop).
        if jax.process_count() == 1:
          summary.stopped_by = summary.stopped_by or stop.requested
      if evaluate and summary.stopped_by is None:
        summary.evaluation = _final_evaluation(experiment, state, mesh, workdir, summary.step,
                                               writer, val_inputs)
    finally:
      writer.close()
  latest = ckpt.latest_step()
  summary.checkpoint = ckpt.step_dir(latest) if latest is not None else None
  return summary


@dataclasses.dataclass
class _Stage:
  """One stage of training, set up: what its loop and its evaluations work with."""
  config: ml_collections.ConfigDict
  workdir: str
  experiment: experiment_lib.Experiment
  mesh: Any
  train_set: Any
  val_inputs: Any                       # None when this stage does not evaluate
  ckpt: checkpointer.Checkpointer
  writer: metrics_lib.MetricsWriter
  stop: stop_signal.StopSignal
  steps_per_epoch: int
  total_steps: int


def _loop(stage: _Stage, state, window: metric_window.MetricWindow, summary: RunSummary):
  """Runs steps summary.step .. total_steps - 1; returns the final state.

  `window` holds the metric sums since the last log line (restored with the checkpoint), and
  every checkpoint saves it, so log lines average the same steps however often the run stops.
  """
  config, mesh, ckpt = stage.config, stage.mesh, stage.ckpt
  step_fn = stage.experiment.train_step(mesh)
  keys = stage.experiment.train_keys
  start_step = summary.step
  bar = progress.ProgressBar(stage.total_steps, 'train', start=start_step,
                             enabled=None if config.train.progress_bar else False)
  metrics = loop_helpers.StepMetrics(
      window=window, writer=stage.writer, bar=bar, ckpt=ckpt,
      log_every=config.train.log_every_steps, total_steps=stage.total_steps,
      steps_per_epoch=stage.steps_per_epoch, batch_size=config.batch_size, echo=log,
      objective_label=(stage.experiment.objective.label
                       if stage.experiment.objective is not None else None))
  poll = loop_helpers.StopPoll(stage.stop, mesh)
  run_start = time.time()

  with _train_batches(stage, start_step) as batches:
    for step in range(start_step, stage.total_steps):
      stage.stop.raise_pending()
      batch = sharding.put_batch(next(batches), mesh, keys)
      if step == start_step:   # no process starts the step's collectives while another compiles
        step_fn = multihost.compile_everywhere(step_fn, state, batch, name='train step')
      with jax.transfer_guard('disallow'):   # the step itself never copies host <-> device
        state, step_metrics = step_fn(state, batch)
      metrics.dispatched(step, step_metrics)   # checks and logs the step before
      done = step + 1
      epoch_end = done % stage.steps_per_epoch == 0
      stopping = poll.after_step()

      save, force = loop_helpers.save_due(config.train, done, epoch_end=epoch_end,
                                          stopping=stopping, total_steps=stage.total_steps)
      if save:
        metrics.check_pending()   # never save a state that came from a non-finite step
        _save(stage, state, done, window, force)
      summary.step = done

      if stopping:
        ckpt.wait()
        summary.stopped_by = stopping
        bar.close()
        log(f'{stopping}: saved {ckpt.step_dir(done)} and stopped at step {done}/'
            f'{stage.total_steps}; run the same command again to resume.')
        return state

      if loop_helpers.evaluation_due(config.train, done, steps_per_epoch=stage.steps_per_epoch,
                                     total_steps=stage.total_steps):
        _evaluate_epoch(stage, state, done)
    metrics.check_pending()

  summary.stopped_by = poll.at_end()
  bar.close()
  ckpt.wait()
  summary.train_seconds = time.time() - run_start
  log(f'trained steps {start_step}..{stage.total_steps} in {summary.train_seconds:.0f} s')
  return state


def _train_batches(stage: _Stage, start_step: int):
  """This process's share of the training batches from `start_step` on (a context manager)."""
  return data_pipeline.make_loader(
      stage.config.data, stage.train_set,
      batch_size=sharding.local_batch_size(stage.config.batch_size), train=True,
      seed=stage.config.seed, start_step=start_step, process_index=jax.process_index(),
      process_count=jax.process_count())


def _save(stage: _Stage, state, step: int, window: metric_window.MetricWindow, force: bool):
  """A checkpoint after step `step`, with the log window (it holds exactly the steps up to it)."""
  meta = {'epoch': step / stage.steps_per_epoch, metric_window.META_KEY: window.to_meta()}
  stage.ckpt.save(step, state, meta, force=force)


def _evaluate_epoch(stage: _Stage, state, step: int):
  """An evaluation at an epoch end (train.eval_every_epochs), its table printed."""
  with stage.stop.at_once():   # the epoch's checkpoint is saved: nothing to wait for
    evaluation = eval_loop.evaluate_model(
        stage.experiment, experiment_lib.model_variables(state), stage.mesh, stage.workdir,
        step, stage.writer, inputs=stage.val_inputs, show_progress=stage.config.train.progress_bar)
  log(f'epoch {step // stage.steps_per_epoch} evaluation:\n{evaluation["table"]}')


def evaluate(config: ml_collections.ConfigDict, workdir: str) -> RunSummary:
  """Evaluates the latest checkpoint of `workdir` (or, if it has none, config.init_from)."""
  config_schema.validate_config(config)
  multihost.initialize(config.train)
  workdir = os.path.abspath(workdir)
  with workdir_lock.WorkdirLock(workdir, jax.process_index()), \
      stop_signal.StopSignal():   # it writes metrics and results; a signal stops at once
    return _evaluate(config, workdir)


def _evaluate(config: ml_collections.ConfigDict, workdir: str) -> RunSummary:
  """`evaluate` with the workdir locked."""
  datasets.ensure_dataset(config)
  mesh = sharding.make_mesh()
  has_checkpoints = _has_checkpoints(workdir)
  experiment = experiment_lib.Experiment(config)   # the schedule does not shape the state
  val_inputs = eval_loop.prepare_evaluation(experiment)
  if has_checkpoints:
    workdir_binding.bind_workdir(workdir, config, write=False)
    ckpt = checkpointer.Checkpointer(workdir, config, save_every_steps=1, keep=10**9,
                                      use_async=False)
    with checkpointer.closed_after(ckpt):
      state, meta = restore_checkpoint(ckpt, config, experiment.abstract_state(mesh))
    step = meta['step']
    variables = experiment_lib.model_variables(state)
    source = ckpt.step_dir(step)
  elif config.init_from:
    target = jax.device_get(experiment.init_model_variables(mesh))
    merged, _ = init_from.merge_variables(target, init_from.load_variables(
        config.init_from), config.init_from)
    variables = jax.device_put(merged, sharding.replicated(mesh))
    step, source = 0, config.init_from
  else:
    raise errors.MissingInputError(
        f'{workdir} holds no checkpoint and config.init_from is empty: '
        'nothing to evaluate')
  log(f'evaluating {source}')
  writer = metrics_lib.MetricsWriter(workdir, enabled=jax.process_index() == 0)
  try:
    evaluation = eval_loop.evaluate_model(experiment, variables, mesh, workdir, step, writer,
                                          inputs=val_inputs,
                                          show_progress=config.train.progress_bar)
  finally:
    writer.close()
  log(evaluation['table'])
  summary = RunSummary(workdir=workdir, step=step, total_steps=step, checkpoint=source)
  summary.evaluation = _save_results(workdir, step, evaluation) if has_checkpoints else {
      'table': evaluation['table'],
      'mAP': {n: r.mean for n, r in evaluation['results'].items()}}
  return summary
