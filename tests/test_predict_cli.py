"""`python -m famipose_jax.predict` end to end: each box source, the outputs, bad input.

The network is tests/fixtures/synthetic_famipose (tests/fixtures/make_synthetic_model.py).
"""

import glob
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from data_pipeline import crop_affine
from data_pipeline import posetrack_video as ptv
from famipose_jax.evaluation import loop as eval_loop
from famipose_jax import evaluation
from famipose_jax import experiment as experiment_lib
from famipose_jax import predict
from famipose_jax.runtime import compile_cache
from famipose_jax.runtime import sharding
from famipose_jax.checkpoints import trained_model
from famipose_jax.inference import person_boxes

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'synthetic_famipose')
SIZE = (320, 240)          # the astronaut video's frame size (W, H)
NUM_FRAMES = 6
# The astronaut's body in skimage's 512x512 picture (x, y, w, h), by eye.
BODY = (130.0, 20.0, 300.0, 492.0)


def _affine(t: int) -> np.ndarray:
  """Frame t's known transform of the picture: shrink, turn a little, drift right and down."""
  matrix = cv2.getRotationMatrix2D((256, 256), 2.0 * t, 0.42 + 0.01 * t)
  matrix[:, 2] += (-96 + 6 * t, -140 + 3 * t)
  return matrix


def _moved_box(t: int) -> list[float]:
  x, y, w, h = BODY
  corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]])
  moved = corners @ _affine(t).T
  (x0, y0), (x1, y1) = moved.min(0), moved.max(0)
  x0, y0 = max(x0, 0.0), max(y0, 0.0)
  x1, y1 = min(x1, SIZE[0] - 1.0), min(y1, SIZE[1] - 1.0)
  return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


@pytest.fixture(scope='module')
def astronaut_video(tmp_path_factory):
  """A short mp4 of scikit-image's astronaut photograph under known affine transforms."""
  skimage_data = pytest.importorskip('skimage.data')
  picture = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
  path = str(tmp_path_factory.mktemp('astronaut') / 'astronaut.mp4')
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 12.0, SIZE)
  for t in range(NUM_FRAMES):
    writer.write(cv2.warpAffine(picture, _affine(t), SIZE, borderValue=(40, 40, 40)))
  writer.release()
  return path


def _read_video_file(path: str) -> tuple[int, tuple[int, int]]:
  capture = cv2.VideoCapture(path)
  count = 0
  while capture.read()[0]:
    count += 1
  return count, (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                 int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))


def _box_file(tmp_path) -> str:
  path = str(tmp_path / 'boxes.json')
  person_boxes.write_box_file(path, [[person_boxes.PersonBox(box=tuple(_moved_box(t)), score=0.9)]
                                     for t in range(NUM_FRAMES)])
  return path


@pytest.mark.parametrize('source', ['file', 'full-frame', 'detect'])
def test_each_box_source_runs_end_to_end_on_a_real_photograph(astronaut_video, tmp_path, source,
                                                              capsys):
  out = tmp_path / 'out'
  boxes = _box_file(tmp_path) if source == 'file' else source
  code = predict.main([astronaut_video, '--checkpoint', FIXTURE, '--out', str(out),
                       '--boxes', boxes, '--save-frames'])
  assert code == 0, capsys.readouterr().err
  summary = capsys.readouterr().out
  assert summary.startswith(f'{NUM_FRAMES} frames, ')
  assert sorted(os.listdir(out)) == ['astronaut.json', 'astronaut_frames',
                                     'astronaut_overlay.mp4']
  assert _read_video_file(str(out / 'astronaut_overlay.mp4')) == (NUM_FRAMES, SIZE)
  pngs = sorted(os.listdir(out / 'astronaut_frames'))
  assert pngs == [f'{t:06d}.png' for t in range(NUM_FRAMES)]
  assert cv2.imread(str(out / 'astronaut_frames' / pngs[0])).shape == (SIZE[1], SIZE[0], 3)
  video = ptv.read_video(str(out / 'astronaut.json'), ptv.PREDICTIONS)
  assert [f.file_name for f in video.frames] == [f'astronaut/{t:06d}.jpg'
                                                 for t in range(NUM_FRAMES)]
  persons = [f.persons for f in video.frames]
  if source == 'detect':   # HOG fires on the waist-up astronaut only in some frames
    assert 1 <= sum(len(p) for p in persons) < NUM_FRAMES
  else:   # one person, one track, in the given (or the whole-frame) box
    assert [len(p) for p in persons] == [1] * NUM_FRAMES
    assert {p[0].track_id for p in persons} == {0}
    want = _moved_box(0) if source == 'file' else [0, 0, SIZE[0], SIZE[1]]
    np.testing.assert_allclose(persons[0][0].bbox, want, atol=1e-6)
  # Every predicted joint lies inside its person's crop (the box widened to the input's aspect
  # ratio and enlarged 1.25 times).
  config = trained_model.load_trained_model(FIXTURE).config
  width, height = config.model.image_size
  for frame in persons:
    for person in frame:
      center, scale = crop_affine.box_to_center_scale(person.bbox, width / height,
                                                      config.data.box_enlarge, 200.0)
      half = scale * 200.0 / 2 + 1.0
      assert np.all(np.abs(person.keypoints[:, :2] - center) <= half)


def test_detecting_every_second_frame_carries_tracks_between(held_out_video, tmp_path, capsys):
  folder = glob.glob(os.path.join(held_out_video, 'images', 'val', '*'))[0]
  runs = {}
  for every in (1, 2):
    out = tmp_path / f'every{every}'
    assert predict.main([folder, '--checkpoint', FIXTURE, '--out', str(out), '--no-video',
                         '--detect-every', str(every), '--detect-workers', '2']) == 0
    name = os.path.basename(folder)
    runs[every] = [[p.track_id for p in f.persons] for f in ptv.read_video(
        str(out / f'{name}.json'), ptv.PREDICTIONS).frames]
  capsys.readouterr()
  frames = len(runs[2])
  assert frames == 10 and sum(map(len, runs[2])) > 0
  # A skipped frame holds exactly the tracks of both detected neighbours, and some hold one.
  skipped = range(1, frames - 1, 2)
  for t in skipped:
    assert sorted(runs[2][t]) == sorted(set(runs[2][t - 1]) & set(runs[2][t + 1]))
  assert sum(len(runs[2][t]) for t in skipped) > 0
  assert runs[1] != runs[2]


def test_the_compiled_network_is_kept_for_the_next_run(astronaut_video, tmp_path):
  # A fresh process: this one's JAX already has the test suite's cache folder.
  cache = tmp_path / 'cache'
  command = [sys.executable, '-m', 'famipose_jax.predict', astronaut_video, '--checkpoint',
             FIXTURE, '--boxes', 'full-frame', '--no-video', '--compile-cache', str(cache)]
  env = {k: v for k, v in os.environ.items() if not k.startswith('JAX_COMPILATION_CACHE')}
  # Kept whatever its compile time (JAX keeps only programs that took a second by default).
  env['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'

  env['JAX_LOG_COMPILES'] = '1'    # JAX then logs its cache hits as warnings
  logs = {}
  for run in ('first', 'second'):
    done = subprocess.run(command + ['--out', str(tmp_path / run)], env=env, check=False,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    logs[run] = done.stderr
  entries = [name for name in os.listdir(cache) if name.startswith('jit_predict')]
  assert len(entries) == 1     # the network's program: written by the first run
  hit = "Persistent compilation cache hit for 'jit_predict'"
  assert hit not in logs['first'] and hit in logs['second']
  assert (tmp_path / 'first' / 'astronaut.json').read_bytes() == (
      tmp_path / 'second' / 'astronaut.json').read_bytes()


def test_compile_cache_keeps_a_folder_jax_already_has(tmp_path):
  import jax  # pylint: disable=g-import-not-at-top
  previous = jax.config.jax_compilation_cache_dir
  try:
    jax.config.update('jax_compilation_cache_dir', None)
    assert compile_cache.use('') is None and jax.config.jax_compilation_cache_dir is None
    assert compile_cache.use(str(tmp_path / 'a')) == str(tmp_path / 'a')
    assert compile_cache.use(str(tmp_path / 'b')) == str(tmp_path / 'a')   # already set
  finally:
    jax.config.update('jax_compilation_cache_dir', previous)
  assert compile_cache.default_folder().endswith(os.path.join('famipose-jax', 'compile-cache'))


def test_detection_flags_checked_before_anything_runs(astronaut_video, tmp_path, capsys):
  out = tmp_path / 'out'
  for flags in (['--detect-every', '0'], ['--detect-workers', '-1']):
    assert predict.main([astronaut_video, '--checkpoint', FIXTURE, '--out', str(out)]
                        + flags) == 2
    assert '--detect-every should be >= 1 and --detect-workers >= 0' in capsys.readouterr().err
    assert _no_outputs(out)
  assert predict.main([astronaut_video, '--checkpoint', FIXTURE, '--out', str(out),
                       '--boxes', 'full-frame', '--detect-every', '2']) == 2
  assert '--boxes full-frame uses none' in capsys.readouterr().err and _no_outputs(out)


def test_ground_truth_boxes_give_the_evaluation_ap_and_the_file_reads_back(held_out_video,
                                                                           tmp_path):
  model = trained_model.load_trained_model(FIXTURE)
  config = model.config
  config.data.root = held_out_video
  config.data.eval_boxes = 'ground_truth'
  config.data.num_workers = 0
  experiment = experiment_lib.Experiment(config)
  dataset = experiment.dataset('val')
  evaluated = eval_loop.predict(experiment, model.variables, dataset, sharding.make_mesh(),
                                show_progress=False)
  results, tracking, gt_videos, _ = eval_loop.score_predictions(config, evaluated,
                                                                str(tmp_path / 'eval'))

  # The annotation file's boxes of the persons with labelled joints, as a user would pass them.
  gt_video = gt_videos[0]
  boxes = [[person_boxes.PersonBox(box=tuple(p.bbox), score=1.0, track_id=p.track_id)
            for p in frame.persons if p.present.any()] for frame in gt_video.frames]
  box_path = str(tmp_path / 'gt_boxes.json')
  person_boxes.write_box_file(box_path, boxes)
  folder = os.path.join(held_out_video, os.path.dirname(gt_video.frames[0].file_name))
  out = tmp_path / 'predicted'
  assert predict.main([folder, '--checkpoint', FIXTURE, '--out', str(out), '--boxes', box_path,
                       '--no-video']) == 0
  assert os.listdir(out) == [f'{gt_video.name}.json']
  ours = evaluation.evaluate_folders(eval_loop.ground_truth_dir(config), str(out))
  assert results['final'].mean > 20                   # the fixture has learnt something
  assert abs(ours.mean - results['final'].mean) < 1.0
  # The boxes carry the ground truth's track ids: the tracking metrics agree as well.
  ours_tracking = evaluation.evaluate_tracking_folders(eval_loop.ground_truth_dir(config),
                                                       str(out))
  assert abs(ours_tracking.mota - tracking['final'].mota) < 1.0
  written = ptv.read_video(str(out / f'{gt_video.name}.json'), ptv.PREDICTIONS)
  assert [[p.track_id for p in f.persons] for f in written.frames] == \
      [[b.track_id for b in frame] for frame in boxes]   # given ids are kept


def _no_outputs(out) -> bool:
  return not os.path.exists(out) or os.listdir(out) == []


def test_bad_input_is_named_and_leaves_no_output(astronaut_video, tmp_path, capsys):
  out = tmp_path / 'out'
  junk = tmp_path / 'junk.mp4'
  junk.write_bytes(b'\x00' * 4096)
  assert predict.main([str(junk), '--checkpoint', FIXTURE, '--out', str(out),
                       '--boxes', 'full-frame']) == 2
  assert 'junk.mp4: ' in capsys.readouterr().err and _no_outputs(out)

  short = tmp_path / 'short.json'
  short.write_text(json.dumps({'frames': [[{'bbox': [1, 2, 30, 40]}]] * (NUM_FRAMES - 2)}))
  assert predict.main([astronaut_video, '--checkpoint', FIXTURE, '--out', str(out),
                       '--boxes', str(short)]) == 2
  err = capsys.readouterr().err
  assert 'short.json' in err and str(NUM_FRAMES) in err and _no_outputs(out)

  other = tmp_path / 'other_model'
  model = trained_model.load_trained_model(FIXTURE)
  model.config.model.backbone.stage2.num_channels = (8, 16)   # not the fixture's network
  os.makedirs(other)
  os.symlink(os.path.join(FIXTURE, 'variables'), other / 'variables')
  trained_model.write_config_record(str(other), model.config)
  assert predict.main([astronaut_video, '--checkpoint', str(other), '--out', str(out),
                       '--boxes', 'full-frame']) == 2
  assert 'does not hold the network its config describes' in capsys.readouterr().err
  assert _no_outputs(out)


def test_existing_outputs_are_never_overwritten(astronaut_video, tmp_path, capsys):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'astronaut.json').write_text('mine')
  assert predict.main([astronaut_video, '--checkpoint', FIXTURE, '--out', str(out),
                       '--boxes', 'full-frame']) == 2
  assert 'refusing to overwrite' in capsys.readouterr().err
  assert os.listdir(out) == ['astronaut.json'] and (out / 'astronaut.json').read_text() == 'mine'


def _readme_example() -> str:
  """The Python block of the README's "Poses on your own video" section."""
  readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'README.md'),
                encoding='utf-8').read()
  section = readme.split('## Poses on your own video', 1)[1]
  return section.split('```python\n', 1)[1].split('```', 1)[0]


def test_the_readme_example_runs(held_out_video, tmp_path):
  folder = glob.glob(os.path.join(held_out_video, 'images', 'val', '*'))[0]
  clip = str(tmp_path / 'my_clip.mp4')
  writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*'mp4v'), 25.0, (480, 270))
  for name in sorted(os.listdir(folder)):
    writer.write(cv2.imread(os.path.join(folder, name)))
  writer.release()
  code = _readme_example().replace("'runs/demo'", repr(FIXTURE)).replace(
      "'my_clip.mp4'", repr(clip)).replace("'my_clip.json'", repr(str(tmp_path / 'out.json')))
  namespace = {}
  exec(code, namespace)   # pylint: disable=exec-used
  video = ptv.read_video(str(tmp_path / 'out.json'), ptv.PREDICTIONS)
  assert len(video.frames) == 10
  assert sum(len(f.persons) for f in video.frames) > 0          # the detector found people
  assert all(p.track_id is not None for f in video.frames for p in f.persons)
