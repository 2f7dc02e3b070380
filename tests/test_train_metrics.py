"""Monitoring: TensorBoard event files without TensorFlow, JSON lines, the progress bar, the PNG."""

import errno
import io
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from famipose_jax.train import loop_helpers
from famipose_jax.train import metric_window
from famipose_jax.train import metrics
from famipose_jax.runtime import progress
from famipose_jax.train import loop as trainer
from famipose_jax.evaluation import visualize
from famipose_jax.checkpoints import workdir_errors


def test_event_file_and_jsonl(tmp_path):
  writer = metrics.MetricsWriter(str(tmp_path))
  writer.write(10, {'loss': 0.5, 'learning_rate': 1e-3})
  writer.write(20, {'loss': 0.25, 'learning_rate': 1e-4})
  writer.write(20, {'final/mAP': 61.5}, kind='eval')
  writer.write(30, {'loss': float('nan')})
  png = visualize.write_png(str(tmp_path / 'x.png'), np.zeros((4, 6, 3), np.uint8))
  writer.image_png(20, 'eval/predictions', png, 4, 6)
  path = writer.event_file
  writer.close()
  scalars = metrics.read_event_scalars(path)
  assert scalars['train/loss'][:2] == [(10, 0.5), (20, 0.25)]
  assert np.isnan(scalars['train/loss'][2][1])
  assert [s for s, _ in scalars['train/learning_rate']] == [10, 20]
  np.testing.assert_allclose([v for _, v in scalars['train/learning_rate']], [1e-3, 1e-4],
                             rtol=1e-6)
  assert scalars['eval/final/mAP'] == [(20, 61.5)]
  with open(tmp_path / metrics.METRICS_FILE) as f:
    lines = [json.loads(line) for line in f]
  assert [(r['step'], r['kind']) for r in lines] == [(10, 'train'), (20, 'train'), (20, 'eval'),
                                                     (30, 'train')]
  assert lines[0]['loss'] == 0.5 and lines[2]['final/mAP'] == 61.5
  assert lines[3]['loss'] == 'nan'     # JSON has no NaN; the line still parses



def test_metrics_on_a_full_disk_name_the_file(tmp_path):
  # /dev/full answers every write with ENOSPC: a real full disk, for the JSON-lines file.
  path = tmp_path / metrics.METRICS_FILE
  os.symlink('/dev/full', path)
  writer = metrics.MetricsWriter(str(tmp_path))
  with pytest.raises(workdir_errors.WorkdirWriteError) as error:
    writer.write(10, {'loss': 0.5})
  assert str(error.value).startswith(f'cannot write {path}: No space left on device;')
  assert '\n' not in str(error.value)
  writer.close()


def test_metrics_in_a_read_only_workdir_name_the_folder(tmp_path, monkeypatch):
  # Tests run as root, whom chmod does not stop: the folder's creation is made to fail.
  def read_only(name, *args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), name)

  monkeypatch.setattr(metrics.os, 'makedirs', read_only)
  with pytest.raises(workdir_errors.WorkdirWriteError,
                     match=f'^cannot write {tmp_path}: Read-only file system;'):
    metrics.MetricsWriter(str(tmp_path))


def test_resume_drops_what_an_interrupted_run_logged_after_the_resumed_step(tmp_path):
  crashed = metrics.MetricsWriter(str(tmp_path))
  for step in (2, 4, 6):
    crashed.write(step, {'loss': float(step)})
    crashed.write(step, {'final/mAP': 10.0 * step}, kind='eval')
  crashed.close()
  with open(tmp_path / metrics.METRICS_FILE, 'a') as f:
    f.write('{"step": 8, "kind": "tr')              # torn by a power loss
  resumed = metrics.MetricsWriter(str(tmp_path), resume_step=4)   # the checkpoint at step 4
  assert resumed.dropped_lines == 3
  resumed.write(6, {'loss': 6.5})
  resumed.write(6, {'final/mAP': 61.0}, kind='eval')
  resumed.close()

  with open(tmp_path / metrics.METRICS_FILE) as f:
    lines = [json.loads(line) for line in f]
  assert [(r['step'], r['kind'], r.get('loss', r.get('final/mAP'))) for r in lines] == [
      (2, 'train', 2.0), (2, 'eval', 20.0), (4, 'train', 4.0), (4, 'eval', 40.0),
      (6, 'train', 6.5), (6, 'eval', 61.0)]
  accumulator = event_accumulator.EventAccumulator(str(tmp_path / metrics.TENSORBOARD_DIR))
  accumulator.Reload()
  assert [(e.step, e.value) for e in accumulator.Scalars('train/loss')] == [
      (2, 2.0), (4, 4.0), (6, 6.5)]
  assert [(e.step, e.value) for e in accumulator.Scalars('eval/final/mAP')] == [
      (2, 20.0), (4, 40.0), (6, 61.0)]


def test_writing_events_never_imports_tensorflow(tmp_path):
  code = ('import sys\n'
          'from famipose_jax.train import metrics\n'
          f'w = metrics.MetricsWriter({str(tmp_path)!r}); w.write(1, {{"loss": 1.0}}); w.close()\n'
          'print(len(metrics.read_event_scalars(w.event_file)["train/loss"]))\n'
          'assert "tensorflow" not in sys.modules, "TensorFlow was imported"\n')
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = subprocess.run([sys.executable, '-c', code], cwd=repo, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == '1'


def test_disabled_writer_writes_nothing(tmp_path):
  writer = metrics.MetricsWriter(str(tmp_path / 'w'), enabled=False)
  writer.write(1, {'loss': 1.0})
  writer.close()
  assert not os.path.exists(tmp_path / 'w')


class _Terminal(io.StringIO):
  """A stream that says it is a terminal."""

  def isatty(self):
    return True


def _plain(text: str) -> str:
  """`text` without ANSI escape sequences."""
  return re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', text)


def test_progress_bar_is_silent_off_a_terminal():
  stream = io.StringIO()
  bar = progress.ProgressBar(200, 'train', start=50, stream=stream)
  assert not bar.enabled             # a StringIO is not a terminal
  bar.update(100, 'loss 0.5')
  bar.close()
  assert stream.getvalue() == ''


def test_progress_bar_draws_on_a_terminal_of_process_0_only(monkeypatch):
  monkeypatch.setattr(progress, '_process_index', lambda: 0)
  bar = progress.ProgressBar(10, 'eval', stream=_Terminal())
  assert bar.enabled
  bar.close()
  monkeypatch.setattr(progress, '_process_index', lambda: 1)
  stream = _Terminal()
  bar = progress.ProgressBar(10, 'eval', stream=stream)
  assert not bar.enabled
  bar.update(5)
  bar.close()
  assert stream.getvalue() == ''


def test_progress_bar_resumes_at_start_and_shows_the_text():
  stream = io.StringIO()
  bar = progress.ProgressBar(200, 'train', start=50, stream=stream, enabled=True)
  bar.update(50)
  assert '50/200' in _plain(stream.getvalue())
  bar.update(200, 'loss 0.123')
  bar.close()
  last = _plain(stream.getvalue()).strip().splitlines()[-1]
  assert last.startswith('train ') and '200/200' in last and last.endswith('loss 0.123')
  assert not progress._DISPLAYS                # closed: the display is gone


def test_progress_bars_open_together_share_one_display():
  stream = io.StringIO()
  outer = progress.ProgressBar(4, 'train', stream=stream, enabled=True)
  inner = progress.ProgressBar(2, 'eval', stream=stream, enabled=True)
  inner.update(2)
  assert 'eval' in _plain(stream.getvalue()) and 'train' in _plain(stream.getvalue())
  inner.close()
  outer.update(4)
  outer.close()
  assert 'eval' not in _plain(stream.getvalue()).strip().splitlines()[-1]
  assert not progress._DISPLAYS


def test_frame_panel_draws_both_skeletons(tmp_path):
  frames = [np.zeros((100, 160, 3), np.uint8) for _ in range(3)]
  person = np.zeros((17, 3))
  person[:, 0] = np.linspace(20, 140, 17)
  person[:, 1] = 50
  person[:, 2] = 0.9
  hidden = person.copy()
  hidden[:, 2] = 0.1                 # below the score threshold: not drawn
  panel = visualize.frame_panel(frames, [[person], [hidden], []], [[], [], [person]],
                                columns=2)
  assert panel.shape == (200, 320, 3)
  yellow = np.all(panel == visualize.PREDICTION_COLOUR, axis=-1)
  green = np.all(panel == visualize.TRUTH_COLOUR, axis=-1)
  assert yellow[:100, :160].sum() > 100 and yellow[:100, 160:].sum() == 0
  assert green[100:, :160].sum() > 100 and green[:100].sum() == 0
  path = str(tmp_path / 'panel.png')
  visualize.write_png(path, panel)
  np.testing.assert_array_equal(cv2.imread(path), panel)
  assert os.listdir(tmp_path) == ['panel.png']   # no temporary file left behind


def test_eval_results_on_a_full_disk_name_the_file(tmp_path, monkeypatch):
  def full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

  monkeypatch.setattr(trainer.atomic_files, 'write_json_atomic', full)
  evaluation = {'table': '', 'prediction_dir': '', 'image': None, 'results': {}}
  path = tmp_path / trainer.RESULTS_FILE
  with pytest.raises(workdir_errors.WorkdirWriteError,
                     match=f'^cannot write {path}: No space left on device;'):
    trainer._save_results(str(tmp_path), 10, evaluation)  # pylint: disable=protected-access


class _Recorder:
  """A metrics writer and a hidden progress bar (`StepMetrics` prints its log line then)."""
  enabled = False

  def __init__(self):
    self.rows = []

  def write(self, step, values):
    self.rows.append((step, values))

  def update(self, *args):
    del args


@pytest.mark.parametrize('label,terms', [(None, '(task 0.25)'), ('mi', '(task 0.25, mi 0.5)')])
def test_the_log_line_shows_the_family_objective_only_where_there_is_one(label, terms):
  lines, recorder = [], _Recorder()
  step_metrics = loop_helpers.StepMetrics(
      window=metric_window.MetricWindow(), writer=recorder, bar=recorder, ckpt=None,
      log_every=1, total_steps=10, steps_per_epoch=5, batch_size=4, echo=lines.append,
      objective_label=label)
  step_metrics.dispatched(0, {'loss': 0.75, 'task_loss': 0.25, 'mi_loss': 0.5,
                              'grad_norm': 1.0, 'learning_rate': 1e-3})
  step_metrics.check_pending()
  assert re.fullmatch(rf'step 1/10 loss 0\.75 {re.escape(terms)} lr 0\.001 [0-9.]+ clips/s',
                      lines[0]), lines
  assert recorder.rows[0][0] == 1 and recorder.rows[0][1]['mi_loss'] == 0.5
