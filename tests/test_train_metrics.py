"""Monitoring: TensorBoard event files without TensorFlow, JSON lines, the progress bar, the PNG."""

import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np

from famipose_jax import metrics
from famipose_jax import progress
from famipose_jax import visualize


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


def test_writing_events_never_imports_tensorflow(tmp_path):
  code = ('import sys\n'
          'from famipose_jax import metrics\n'
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


def test_progress_bar_line_and_tty_detection():
  stream = io.StringIO()
  bar = progress.ProgressBar(200, 'train', start=50, stream=stream)
  assert not bar.enabled             # a StringIO is not a terminal
  bar._start_time -= 10.0            # 10 s ago
  line = bar.line(100)
  assert line.startswith('train [###############...............] 100/200 5.00/s ETA 00:20')
  bar.update(100)
  assert stream.getvalue() == ''
  forced = progress.ProgressBar(10, 'eval', stream=stream, enabled=True)
  forced.update(10)
  forced.close()
  assert stream.getvalue().startswith('\reval [') and stream.getvalue().endswith('\n')
  assert progress.format_duration(3725) == '1:02:05'


def test_prediction_grid_draws_skeletons(tmp_path):
  mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
  images = ((np.zeros((3, 32, 24, 3)) - np.array(mean)) / np.array(std)).astype(np.float32)
  points = np.tile(np.linspace(4, 20, 17)[None, :, None], (3, 1, 2))
  scores = np.ones((3, 17))
  scores[1] = 0.0                  # nothing drawn on the second tile
  grid = visualize.prediction_grid(images, points, scores, None, mean=mean, std=std, columns=2)
  assert grid.shape == (2 * 64, 2 * 48, 3)
  yellow = np.all(grid == visualize.PREDICTION_COLOUR, axis=-1)
  assert yellow[:64, :48].sum() > 20 and yellow[:64, 48:].sum() == 0
  path = str(tmp_path / 'grid.png')
  visualize.write_png(path, grid)
  np.testing.assert_array_equal(cv2.imread(path), grid)
  assert os.listdir(tmp_path) == ['grid.png']   # no temporary file left behind
