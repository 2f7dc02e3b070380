"""Two processes under jax.distributed train, checkpoint and evaluate like one process.

Each run is `train.py` in child processes on localhost: two processes with two simulated CPU
devices each (coordinator on 127.0.0.1, gloo collectives), or one process with four. They
train the same global batches of the tiny synthetic dataset, so they must end with the same
state (within the tolerances of the 1-vs-4-device test), the same evaluation table and the
same prediction files, written by process 0 alone.

The config is the first stage of the smoke config (the single-frame HRNet, trained end to end:
XLA:CPU compiles it in half the time of FAMI-Pose, and every process compiles every program,
see famipose_jax/runtime/multihost.py), with Adam's eps = 1 as in tests/test_train_sharding.py.

Slower checks run with FAMIPOSE_MULTIHOST_SLOW=1 (docs/training.md, "Checking a multi-process
setup"): a checkpoint moving between process counts, a killed process, a signal to one
process, and the full smoke config (FAMI-Pose with the MI critic).
"""

import collections
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.train_support import smoke_config
from tests.train_support import subprocess_env
from tests.train_support import tolerance_ratios

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUDITED_TRAIN = os.path.join(REPO, 'tests', 'audited_train.py')
DEVICES = 4                  # in every run, split over its processes
STEPS = 5                    # one epoch: 47 training clips of the tiny dataset, 8 per batch
HEARTBEAT_SECONDS = 10       # how long a silent process may stay silent in these tests
SINGLE_FRAME = {             # trainer.pretrain_config of the smoke config, and eps = 1
    'batch_size': 8, 'model.family': 'single_frame', 'model.freeze_backbone': False,
    'model.head': 'heatmap', 'data.supporting_offsets': (),
    'optim.eps': 1.0,
}
FAMI_POSE = {'batch_size': 8, 'model.famipose.mi': 'critic', 'optim.eps': 1.0}
opt_in = pytest.mark.skipif(os.environ.get('FAMIPOSE_MULTIHOST_SLOW') != '1',
                          reason='slow; set FAMIPOSE_MULTIHOST_SLOW=1 to run')


def free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _flag(name, value) -> str:
  if isinstance(value, tuple):
    value = '(' + ''.join(f'{v},' for v in value) + ')'
  return f'--config.{name}={value}'


@dataclasses.dataclass
class Run:
  """One run of `train.py` in `workdir` by `num_processes` processes."""
  workdir: str
  num_processes: int
  returncodes: list
  logs: list                  # each process's stdout and stderr
  seconds: float

  def record(self, process: int) -> list:
    """What process `process` changed in the workdir (tests/audited_train.py)."""
    with open(f'{self.workdir}.changed.{process}.json', encoding='utf-8') as f:
      return json.load(f)


def start(workdir, num_processes, root, compile_cache, overrides, mode='train', **more):
  """Starts the processes of one run; returns [(Popen, log path)]."""
  port = free_port()
  started = []
  for index in range(num_processes):
    env = subprocess_env(compile_cache)
    env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '') + ' --xla_force_host_platform_device_count='
                        f'{DEVICES // num_processes}').strip()
    flags = [f'--workdir={workdir}', f'--mode={mode}', '--config=configs/synthetic.py:smoke',
             f'--config.data.root={root}']
    flags += [_flag(k, v) for k, v in {**overrides, **more}.items()]
    if num_processes > 1:
      flags += [_flag('train.distributed', True),
                _flag('train.coordinator_address', f'127.0.0.1:{port}'),
                _flag('train.num_processes', num_processes), _flag('train.process_id', index),
                _flag('train.heartbeat_timeout_seconds', HEARTBEAT_SECONDS)]
    log = f'{workdir}.log.{index}'
    with open(log, 'w', encoding='utf-8') as out:
      command = [sys.executable, AUDITED_TRAIN, f'{workdir}.changed.{index}.json'] + flags
      started.append((subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                       stderr=subprocess.STDOUT), log))
  return started


def wait(started, timeout=600):
  """Waits for every process; returns ([exit status], [log text])."""
  deadline = time.time() + timeout
  codes = []
  for process, _ in started:
    try:
      codes.append(process.wait(timeout=max(1.0, deadline - time.time())))
    except subprocess.TimeoutExpired:
      for other, _ in started:
        other.kill()
      raise
  logs = []
  for _, log in started:
    with open(log, encoding='utf-8', errors='replace') as f:
      logs.append(f.read())
  return codes, logs


def train(workdir, num_processes, root, compile_cache, overrides, mode='train', **more) -> Run:
  """`train.py --mode=MODE` by `num_processes` processes; waits for them."""
  begin = time.time()
  codes, logs = wait(start(str(workdir), num_processes, root, compile_cache, overrides, mode,
                           **more))
  return Run(str(workdir), num_processes, codes, logs, time.time() - begin)


def load_state(workdir, config, step):
  """The checkpoint at `step`, restored by this (one-device) process and checked against its
  checksums; returns (host state, meta)."""
  import jax  # pylint: disable=g-import-not-at-top
  from famipose_jax import experiment  # pylint: disable=g-import-not-at-top
  from famipose_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from famipose_jax.checkpoints import checkpointer  # pylint: disable=g-import-not-at-top
  ckpt = checkpointer.Checkpointer(workdir, config, save_every_steps=1, keep=10**9,
                                   use_async=False)
  try:
    state, meta = ckpt.restore(step, experiment.Experiment(config).abstract_state(
        sharding.make_mesh()))
  finally:
    ckpt.close()
  return jax.device_get(state), meta


def eval_results(workdir) -> dict:
  with open(os.path.join(workdir, 'eval_results.json'), encoding='utf-8') as f:
    return json.load(f)


def train_losses(workdir) -> dict:
  with open(os.path.join(workdir, 'metrics.jsonl'), encoding='utf-8') as f:
    lines = [json.loads(line) for line in f]
  return {line['step']: line['loss'] for line in lines if 'loss' in line}


def prediction_files(workdir, step) -> dict:
  """{'<set>/<video>.json': the file as JSON} of the predictions at `step`."""
  folder = os.path.join(workdir, 'predictions', f'step_{step}')
  out = {}
  for name in sorted(os.listdir(folder)):
    if os.path.isdir(os.path.join(folder, name)):
      for video in sorted(os.listdir(os.path.join(folder, name))):
        with open(os.path.join(folder, name, video), encoding='utf-8') as f:
          out[f'{name}/{video}'] = json.load(f)
  return out


def assert_same_state(two, one):
  ratios = tolerance_ratios(two, one)
  worst = max(ratios, key=lambda r: r[1])
  assert worst[1] <= 1.0, worst
  return ratios


def copy_checkpoints(source, target):
  """A new workdir holding `source`'s config and checkpoints (no logs, no predictions)."""
  os.makedirs(target)
  shutil.copy(os.path.join(source, 'config.json'), target)
  shutil.copytree(os.path.join(source, 'checkpoints'), os.path.join(target, 'checkpoints'))


@pytest.fixture(scope='module')
def runs(tmp_path_factory, tiny_dataset, compile_cache):
  """One epoch by two processes (each recording what it writes) and by one, in two workdirs;
  then one process evaluates the two processes' checkpoint in a third.

  The two trainings end within float noise of each other, which can move a keypoint of this
  barely trained model across a PCKh threshold: evaluations are compared on the same weights.
  """
  base = tmp_path_factory.mktemp('multihost')
  two = train(base / 'two', 2, tiny_dataset, compile_cache, SINGLE_FRAME)
  one = train(base / 'one', 1, tiny_dataset, compile_cache, SINGLE_FRAME)
  if two.returncodes == [0, 0]:
    copy_checkpoints(two.workdir, base / 'one_evaluates_two')
  evaluation = train(base / 'one_evaluates_two', 1, tiny_dataset, compile_cache, SINGLE_FRAME,
                     mode='evaluate')
  print(f'two processes: {two.seconds:.0f} s, one process: {one.seconds:.0f} s, one process '
        f'evaluating: {evaluation.seconds:.0f} s')
  for run in (two, one, evaluation):
    assert run.returncodes == [0] * run.num_processes, [log[-3000:] for log in run.logs]
  return {'two': two, 'one': one, 'evaluation': evaluation,
          'config': smoke_config(tiny_dataset, **SINGLE_FRAME)}


@pytest.mark.slow
def test_two_processes_train_like_one_process_with_four_devices(runs):
  two, one = runs['two'], runs['one']
  assert 'process 0 of 2: 2 of 4 cpu devices' in two.logs[0]
  assert 'process 1 of 2: 2 of 4 cpu devices' in two.logs[1]
  # The two-process checkpoint is restored by this single process, every array verified.
  state_two, meta = load_state(two.workdir, runs['config'], STEPS)
  state_one, _ = load_state(one.workdir, runs['config'], STEPS)
  assert meta['verified'] and int(state_two.step) == int(state_one.step) == STEPS
  ratios = assert_same_state(state_two, state_one)
  kinds = collections.Counter(name.split('[')[0].split('.')[1] for name, _, _ in ratios)
  assert kinds['params'] > 50 and kinds['batch_stats'] > 20 and kinds['opt_state'] > 100, kinds
  losses_two, losses_one = train_losses(two.workdir), train_losses(one.workdir)
  assert sorted(losses_two) == [2, 4, 5]
  assert losses_two == pytest.approx(losses_one, rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_two_process_evaluation_scores_every_sample_once(runs):
  two, one = runs['two'], runs['evaluation']
  results_two, results_one = eval_results(two.workdir), eval_results(one.workdir)
  assert results_two['step'] == results_one['step'] == STEPS
  assert results_two['table'] == results_one['table']
  assert results_two['columns'] == results_one['columns']
  files_two, files_one = prediction_files(two.workdir, STEPS), prediction_files(one.workdir,
                                                                                 STEPS)
  assert list(files_two) == ['final/100001_synthetic_val.json'] and files_two == files_one
  from famipose_jax import experiment  # pylint: disable=g-import-not-at-top
  val_boxes = len(experiment.Experiment(runs['config']).dataset('val'))
  persons = [(a['image_id'], tuple(a['bbox']))
             for a in files_two['final/100001_synthetic_val.json']['annotations']]
  assert len(persons) == len(set(persons)) == val_boxes == 32


@pytest.mark.slow
def test_only_process_zero_writes_logs_predictions_and_results(runs):
  two = runs['two']
  written = two.record(0)
  for expected in ('config.json', 'metrics.jsonl', 'eval_results.json', '.lock',
                   f'predictions/step_{STEPS}.png'):
    assert expected in written, written
  assert any(path.startswith(f'predictions/step_{STEPS}/final/') for path in written)
  assert any(path.startswith('tensorboard/') for path in written)
  # Process 1 writes only its lock and its share of the checkpoints (the arrays through
  # tensorstore, their metadata here); '.' is its makedirs of the workdir, which exists.
  changed = two.record(1)
  assert [p for p in changed if not p.startswith('checkpoints/')] == ['.', '.lock.1'], changed
  assert all('/process_1' in p for p in changed if p.startswith('checkpoints/')), changed
  assert not os.path.exists(os.path.join(two.workdir, '.lock.1'))   # released at the end


def test_the_stop_vote_is_the_largest_signal_cast():
  """One process here: the vote returns what it was given (two processes: the default runs
  cast None every step and end normally; the slow signal test casts SIGTERM on one)."""
  from famipose_jax.runtime import multihost  # pylint: disable=g-import-not-at-top
  from famipose_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  vote = multihost.StopVote(sharding.make_mesh())
  assert [vote.result(vote.cast(name)) for name in (None, 'SIGTERM', 'SIGINT', None)] == [
      None, 'SIGTERM', 'SIGINT', None]
  assert vote.result(None) is None   # nothing cast yet


def test_the_closing_note_of_a_process_that_scored_nothing():
  """Processes other than 0 end a two-stage run with results that hold no numbers."""
  from famipose_jax.train import cli  # pylint: disable=g-import-not-at-top
  from famipose_jax.train import loop as trainer  # pylint: disable=g-import-not-at-top
  unscored = {'step': STEPS, 'table': '', 'mAP': {}, 'columns': {}, 'image': None,
              'prediction_dir': '/runs/demo/predictions/step_5'}
  summary = trainer.RunSummary(
      workdir='/runs/demo', step=STEPS, total_steps=STEPS, checkpoint='/runs/demo/checkpoints/5',
      evaluation=unscored, pretrain=trainer.RunSummary(
          workdir='/runs/demo/pretrain', step=STEPS, total_steps=STEPS, evaluation=unscored))
  from famipose_jax.config import defaults  # pylint: disable=g-import-not-at-top
  config = defaults.published_config()
  note = cli._closing_note(summary, config).splitlines()   # pylint: disable=protected-access
  assert note[:2] == ['Done.', '  checkpoint:   /runs/demo/checkpoints/5'], note
  assert not any('Mean AP' in line for line in note)


@opt_in
def test_a_checkpoint_moves_between_process_counts(runs, tmp_path, tiny_dataset, compile_cache):
  """Two processes' checkpoint continued by one, one process's by two: the same second epoch."""
  copy_checkpoints(runs['two'].workdir, tmp_path / 'two_then_one')
  copy_checkpoints(runs['one'].workdir, tmp_path / 'one_then_two')
  one = train(tmp_path / 'two_then_one', 1, tiny_dataset, compile_cache, SINGLE_FRAME,
              num_epochs=2)
  two = train(tmp_path / 'one_then_two', 2, tiny_dataset, compile_cache, SINGLE_FRAME,
              num_epochs=2)
  print(f'one process: {one.seconds:.0f} s, two processes: {two.seconds:.0f} s')
  for run in (one, two):
    assert run.returncodes == [0] * run.num_processes, [log[-3000:] for log in run.logs]
    assert f'resumed from {run.workdir}/checkpoints/{STEPS}' in run.logs[0]
  state_one, _ = load_state(one.workdir, runs['config'], 2 * STEPS)
  state_two, _ = load_state(two.workdir, runs['config'], 2 * STEPS)
  assert int(state_one.step) == int(state_two.step) == 2 * STEPS
  assert_same_state(state_two, state_one)
  losses_one, losses_two = train_losses(one.workdir), train_losses(two.workdir)
  assert sorted(losses_one) == [6, 8, 10]   # the copies hold no metrics of the first epoch
  assert losses_two == pytest.approx(losses_one, rel=1e-5, abs=1e-6)


@opt_in
def test_a_killed_process_stops_the_other_and_both_resume(runs, tmp_path, tiny_dataset,
                                                          compile_cache):
  """kill -9 of process 1 mid-epoch: process 0 ends within the heartbeat timeout, naming it;
  rerun, both resume from the last complete checkpoint and end where the unbroken run ended."""
  workdir = str(tmp_path / 'killed')
  started = start(workdir, 2, tiny_dataset, compile_cache, SINGLE_FRAME,
                  **{'train.checkpoint_every_steps': 1})
  (survivor, survivor_log), (victim, _) = started
  deadline = time.time() + 600
  while not os.path.isdir(os.path.join(workdir, 'checkpoints', '2')):
    assert time.time() < deadline and survivor.poll() is None and victim.poll() is None
    time.sleep(0.05)
  victim.send_signal(signal.SIGKILL)
  killed_at = time.time()
  codes, logs = wait(started, timeout=HEARTBEAT_SECONDS + 60)
  stopped_after = time.time() - killed_at
  print(f'process 0 stopped {stopped_after:.1f} s after the kill')
  assert codes[0] != 0 and codes[1] == -signal.SIGKILL
  assert stopped_after < HEARTBEAT_SECONDS + 60
  assert ('Task 1 heartbeat timeout' in logs[0]
          or 'stopped sending heartbeats):\n1\n' in logs[0]), logs[0][-3000:]
  complete = [int(n) for n in os.listdir(os.path.join(workdir, 'checkpoints')) if n.isdigit()]
  assert 2 <= max(complete) < STEPS
  rerun = train(workdir, 2, tiny_dataset, compile_cache, SINGLE_FRAME,
                **{'train.checkpoint_every_steps': 1})
  assert rerun.returncodes == [0, 0], [log[-3000:] for log in rerun.logs]
  assert f'resumed from {workdir}/checkpoints/{max(complete)}' in rerun.logs[0]
  resumed, _ = load_state(workdir, runs['config'], STEPS)
  unbroken, _ = load_state(runs['two'].workdir, runs['config'], STEPS)
  assert_same_state(resumed, unbroken)
  assert eval_results(workdir)['table'] == eval_results(runs['two'].workdir)['table']


@opt_in
def test_a_signal_to_one_process_stops_every_process_at_one_step(tmp_path, tiny_dataset,
                                                                  compile_cache):
  """SIGTERM to process 0 alone: both save the same step and stop cleanly; the rerun resumes."""
  workdir = str(tmp_path / 'signalled')
  more = {'num_epochs': 2, 'train.checkpoint_every_steps': 1}
  started = start(workdir, 2, tiny_dataset, compile_cache, SINGLE_FRAME, **more)
  deadline = time.time() + 600
  while not os.path.isdir(os.path.join(workdir, 'checkpoints', '2')):
    assert time.time() < deadline and all(p.poll() is None for p, _ in started)
    time.sleep(0.05)
  started[0][0].send_signal(signal.SIGTERM)
  codes, logs = wait(started, timeout=120)
  assert codes == [0, 0], [log[-3000:] for log in logs]
  stops = [re.findall(r'Stopped by SIGTERM at step (\d+);', log) for log in logs]
  assert stops[0] == stops[1] and len(stops[0]) == 1, stops
  stopped = int(stops[0][0])
  assert 2 < stopped < 2 * STEPS
  assert max(int(n) for n in os.listdir(os.path.join(workdir, 'checkpoints'))
             if n.isdigit()) == stopped
  rerun = train(workdir, 2, tiny_dataset, compile_cache, SINGLE_FRAME, **more)
  assert rerun.returncodes == [0, 0], [log[-3000:] for log in rerun.logs]
  assert f'resumed from {workdir}/checkpoints/{stopped}' in rerun.logs[0]
  assert eval_results(workdir)['step'] == 2 * STEPS


@opt_in
def test_fami_pose_with_the_critic_trains_alike(tmp_path, tiny_dataset, compile_cache):
  """The full smoke config (frozen backbone, alignment modules, MI critic) on two processes."""
  two = train(tmp_path / 'two', 2, tiny_dataset, compile_cache, FAMI_POSE)
  one = train(tmp_path / 'one', 1, tiny_dataset, compile_cache, FAMI_POSE)
  print(f'two processes: {two.seconds:.0f} s, one process: {one.seconds:.0f} s')
  for run in (two, one):
    assert run.returncodes == [0] * run.num_processes, [log[-3000:] for log in run.logs]
  config = smoke_config(tiny_dataset, **FAMI_POSE)
  state_two, _ = load_state(two.workdir, config, STEPS)
  state_one, _ = load_state(one.workdir, config, STEPS)
  ratios = assert_same_state(state_two, state_one)
  assert sum(".params['critic']" in name for name, _, _ in ratios) > 0
  assert train_losses(two.workdir) == pytest.approx(train_losses(one.workdir), rel=1e-5,
                                                    abs=1e-6)
