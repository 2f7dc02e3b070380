"""train.py as users run it: bad flags fail clearly, SIGTERM saves and exits cleanly."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from famipose_jax.checkpoints import verified_read
from tests.train_support import subprocess_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, env, timeout=120):
  return subprocess.run([sys.executable, 'train.py'] + args, cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize('override, message', [
    ('--config.train.log_every_step=1',
     "unknown config field(s): train.log_every_step (did you mean 'train.log_every_steps'?)"),
    ('--config.bogus.x=1', "unknown config field 'bogus.x'"),
    ('--config.train.log_every_steps.x=1', "unknown config field 'train.log_every_steps.x'"),
    ('--config.model.head=simc', "config.model.head='simc' is not one of ('heatmap', 'simcc')"),
])
def test_bad_override_is_named_and_workdir_untouched(tmp_path, compile_cache, override, message):
  workdir = tmp_path / 'run'
  result = _run(['--config=configs/synthetic.py:smoke', override, f'--workdir={workdir}'],
                subprocess_env(compile_cache))
  assert result.returncode == 2, result.stderr[-2000:]
  assert message in result.stderr
  assert 'Traceback' not in result.stderr
  assert not workdir.exists()


def test_bad_override_of_the_default_config_is_named(tmp_path, compile_cache):
  """Without --config the default file is loaded at parse time too, not at import."""
  workdir = tmp_path / 'run'
  result = _run(['--config.bogus.x=1', f'--workdir={workdir}'], subprocess_env(compile_cache))
  assert result.returncode == 2, result.stderr[-2000:]
  assert "unknown config field 'bogus.x'" in result.stderr
  assert 'Traceback' not in result.stderr
  assert not workdir.exists()

def _signal_when(args, line_prefix: str, cache_dir: str, signum=signal.SIGTERM):
  """Runs train.py with `args`, sends `signum` once it prints a line starting with `line_prefix`
  (or after 240 s); returns (the finished process, all it printed)."""
  process = subprocess.Popen([sys.executable, 'train.py'] + args, cwd=REPO,
                             env=subprocess_env(cache_dir), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
  lines = []
  deadline = time.time() + 240
  try:
    for line in process.stdout:
      lines.append(line)
      if line.startswith(line_prefix) or time.time() > deadline:
        break
    process.send_signal(signum)
    rest, _ = process.communicate(timeout=120)
  finally:
    if process.poll() is None:
      process.kill()
  return process, ''.join(lines) + rest


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path, compile_cache, tiny_dataset):
  workdir = tmp_path / 'run'
  process, output = _signal_when(
      ['--config=configs/synthetic.py:smoke', f'--config.data.root={tiny_dataset}',
       '--config.num_epochs=500', f'--workdir={workdir}'], 'step 4/', compile_cache)
  assert process.returncode == 0, output[-3000:]
  match = re.search(r'SIGTERM: saved (\S+) and stopped at step (\d+)/', output)
  assert match, output[-3000:]
  step = int(match.group(2))
  assert step >= 4
  assert match.group(1) == str(workdir / 'checkpoints' / str(step))
  assert os.path.isdir(match.group(1))
  assert f'Stopped by SIGTERM at step {step}' in output
  assert 'evaluating' not in output              # stopped runs do not evaluate


def test_sigterm_during_start_up_stops_at_once_and_writes_nothing(tmp_path, compile_cache,
                                                                  tiny_dataset):
  workdir = tmp_path / 'run'
  process, output = _signal_when(
      ['--config=configs/synthetic.py:smoke', f'--config.data.root={tiny_dataset}',
       f'--workdir={workdir}'], 'preparing ', compile_cache)   # start-up has begun
  assert process.returncode == 128 + signal.SIGTERM, output[-3000:]
  assert 'SIGTERM: stopped at once' in output, output[-3000:]
  assert not (workdir / 'config.json').exists()


def test_prediction_folder_missing_a_video_is_named(tmp_path, tiny_dataset):
  gt_dir, pred_dir = tmp_path / 'gt', tmp_path / 'pred'
  gt_dir.mkdir()
  pred_dir.mkdir()
  source = os.path.join(tiny_dataset, 'annotations', 'val', '100001_synthetic_val.json')
  for name in ('100001_synthetic_val.json', '100002_synthetic_val.json'):
    shutil.copy(source, gt_dir / name)
  shutil.copy(source, pred_dir / '100001_synthetic_val.json')
  result = subprocess.run([sys.executable, '-m', 'famipose_jax.evaluation', str(gt_dir),
                           str(pred_dir)], cwd=REPO, env=subprocess_env(''), capture_output=True,
                          text=True, timeout=120)
  assert result.returncode == 2
  assert "has no file for 1 of the 2 videos" in result.stderr
  assert "'100002_synthetic_val.json'" in result.stderr
  assert sorted(os.listdir(pred_dir)) == ['100001_synthetic_val.json']


@pytest.mark.slow
def test_a_repeated_run_loads_its_compiled_programs_from_the_compile_cache(tmp_path,
                                                                           tiny_dataset):
  cache = tmp_path / 'cache'
  # Fresh processes without the test suite's cache folder, so that --compile_cache is used.
  env = {k: v for k, v in subprocess_env('').items()
         if not k.startswith('JAX_COMPILATION_CACHE')}
  env['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'   # keep even the tiny programs
  env['JAX_LOG_COMPILES'] = '1'                              # JAX then logs its cache hits
  runs = {}
  for run in ('first', 'second'):   # the same command in two workdirs
    runs[run] = _run(['--config=configs/synthetic.py:smoke', f'--config.data.root={tiny_dataset}',
                      f'--workdir={tmp_path / run}', f'--compile_cache={cache}',
                      '--config.train.progress_bar=False'], env, timeout=600)
    assert runs[run].returncode == 0, runs[run].stderr[-3000:]
  hit = "Persistent compilation cache hit for '{}'".format
  assert hit('jit_step_fn') not in runs['first'].stderr   # it compiled its train step
  for program in ('jit_init', 'jit_step_fn', 'jit_eval_fn'):   # the initial state, step, eval
    assert hit(program) in runs['second'].stderr, program
    assert any(name.startswith(program + '-') for name in os.listdir(cache)), program
  # A loaded program computes what the compiled one did: the same trained state, bit for bit.
  states = [verified_read.read_step_dir(os.path.join(tmp_path, run, 'checkpoints', step))[1]
            for run in runs for step in [max(os.listdir(tmp_path / run / 'checkpoints'),
                                             key=int)]]
  jax.tree_util.tree_map(np.testing.assert_array_equal, *states)
