"""One run per workdir: a second run is refused before it writes; a dead run's lock is freed."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from famipose_jax.train import loop as trainer
from famipose_jax.checkpoints import workdir_lock
from tests.train_support import smoke_config, snapshot_files, subprocess_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A child process that takes the lock of argv[1], says so, and waits to be killed.
HOLD_LOCK = ('import sys, time\n'
             'from famipose_jax.checkpoints import workdir_lock\n'
             'workdir_lock.WorkdirLock(sys.argv[1]).acquire()\n'
             'print("locked", flush=True)\n'
             'time.sleep(600)\n')


def _in_use_message(workdir, pid):
  return (f'workdir {workdir} is in use by pid {pid} on host {socket.gethostname()} '
          f'(since ')


@pytest.mark.parametrize('entry', ['train', 'train_and_evaluate', 'evaluate'])
def test_a_second_run_is_refused_before_it_writes_anything(tmp_path, tiny_dataset, entry):
  workdir = str(tmp_path / 'run')
  os.makedirs(workdir)   # an existing workdir: the lock leaves the folder itself in place
  config = smoke_config(tiny_dataset)
  with workdir_lock.WorkdirLock(workdir):
    before = snapshot_files(workdir)
    with pytest.raises(workdir_lock.WorkdirLockedError) as error:
      getattr(trainer, entry)(config, workdir)
    assert str(error.value).startswith(_in_use_message(workdir, os.getpid()))
    assert '\n' not in str(error.value)
    assert snapshot_files(workdir) == before
  assert os.listdir(workdir) == []            # a run that ends removes its lock file


def test_a_killed_runs_lock_is_taken_over(tmp_path, caplog):
  workdir = str(tmp_path / 'run')
  child = subprocess.Popen([sys.executable, '-c', HOLD_LOCK, workdir], cwd=REPO,
                           env=subprocess_env(''), stdout=subprocess.PIPE, text=True)
  try:
    assert child.stdout.readline().strip() == 'locked'
    with pytest.raises(workdir_lock.WorkdirLockedError, match='Wait for that run to end'):
      workdir_lock.WorkdirLock(workdir).acquire()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
  finally:
    if child.poll() is None:
      child.kill()
  lock = workdir_lock.WorkdirLock(workdir)
  with caplog.at_level(logging.WARNING):
    lock.acquire()
  assert (f'taking over the lock of pid {child.pid} on host {socket.gethostname()}'
          in caplog.text)
  with open(lock.path) as f:
    assert json.load(f)['pid'] == os.getpid()
  lock.release()
  assert not os.path.exists(lock.path)


def test_train_py_refuses_a_workdir_in_use_in_one_line(tmp_path, compile_cache):
  workdir = str(tmp_path / 'run')
  with workdir_lock.WorkdirLock(workdir):
    result = subprocess.run(
        [sys.executable, 'train.py', '--config=configs/synthetic.py:smoke',
         f'--workdir={workdir}'], cwd=REPO, env=subprocess_env(compile_cache),
        capture_output=True, text=True, timeout=300)
  assert result.returncode == 2, result.stderr[-2000:]
  assert f'error: {_in_use_message(workdir, os.getpid())}' in result.stderr
  assert 'Traceback' not in result.stderr


def test_a_workdir_that_cannot_be_written_is_one_line_naming_the_lock_file(tmp_path,
                                                                           monkeypatch):
  # Tests run as root, whom chmod does not stop: the lock file's creation is made to fail.
  import errno  # pylint: disable=g-import-not-at-top
  from famipose_jax.checkpoints import workdir_errors  # pylint: disable=g-import-not-at-top

  def read_only(path, *args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

  monkeypatch.setattr(workdir_lock.os, 'open', read_only)
  lock = workdir_lock.WorkdirLock(str(tmp_path / 'run'))
  with pytest.raises(workdir_errors.WorkdirWriteError,
                     match=f'^cannot write {lock.path}: Read-only file system;'):
    lock.acquire()
