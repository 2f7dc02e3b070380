"""The predictor on frames of one's own: the same crops and poses as evaluation, image geometry.

Most tests use tests/fixtures/synthetic_famipose, a small FAMI-Pose trained by this project on
the synthetic data (tests/fixtures/make_synthetic_model.py), on a held-out synthetic video
generated here with the demo's generator settings.
"""

import glob
import os

import cv2
import numpy as np
import pytest

from data_pipeline import posetrack_video as ptv
from data_pipeline.settings import DataSettings
from famipose_jax.evaluation import loop as eval_loop
from famipose_jax import evaluation
from famipose_jax.heads import decoding
from famipose_jax import experiment as experiment_lib
from famipose_jax.runtime import sharding
from famipose_jax.checkpoints import trained_model
from famipose_jax.inference import clip_crops
from famipose_jax.inference import posetrack_output
from famipose_jax.inference import predictor as predictor_lib
from famipose_jax.inference import video_frames

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'synthetic_famipose')


@pytest.fixture(scope='module')
def model():
  return trained_model.load_trained_model(FIXTURE)


@pytest.fixture(scope='module')
def held_out(held_out_video):
  """(the fixture's config on a held-out video with ground-truth boxes, its val dataset)."""
  config = trained_model.load_trained_model(FIXTURE).config
  config.data.root = held_out_video
  config.data.eval_boxes = 'ground_truth'
  config.data.num_workers = 0
  return config, experiment_lib.Experiment(config).dataset('val')


@pytest.fixture(scope='module')
def predictor(model):
  return predictor_lib.Predictor(model.config, model.variables, batch_size=8)


def _video_boxes(dataset):
  """(the video folder, per frame the evaluation's boxes) of the dataset's only video."""
  folder = os.path.dirname(os.path.join(dataset.settings.root, dataset.samples[0].file_name))
  frames = video_frames.FolderFrames(folder)
  by_name = {os.path.basename(n): t for t, n in enumerate(frames.names)}
  boxes = [[] for _ in range(len(frames))]
  order = []
  for i, sample in enumerate(dataset.samples):
    t = by_name[os.path.basename(sample.file_name)]
    boxes[t].append(list(sample.box) + [sample.box_score])
    order.append((t, len(boxes[t]) - 1, i))
  return frames, boxes, order


def test_crops_are_the_evaluation_crops_to_the_bit(held_out, model):
  config, dataset = held_out
  frames, boxes, order = _video_boxes(dataset)
  cropper = clip_crops.ClipCropper(DataSettings.from_config(config.data))
  width, height = config.model.image_size
  num = len(config.data.supporting_offsets)
  checked = 0
  for t, b, index in order[::3]:
    element = dataset.load(index, train=False)
    key = np.zeros((height, width, 3), np.uint8)
    supporting = np.zeros((num, height, width, 3), np.uint8)
    crop = cropper.crop(boxes[t][b][:4])
    cropper.write_inputs(frames, t, crop, key, supporting)
    np.testing.assert_array_equal(key, element['key_image'])
    np.testing.assert_array_equal(supporting, element['supporting_images'])
    np.testing.assert_array_equal(crop.center, element['center'])
    np.testing.assert_array_equal(crop.scale, element['scale'])
    checked += 1
  assert checked >= 5


def test_poses_equal_evaluation_with_the_same_boxes_and_score_alike(held_out, predictor,
                                                                    model, tmp_path):
  config, dataset = held_out
  frames, boxes, order = _video_boxes(dataset)
  poses = predictor.predict(frames, boxes)
  assert [len(p) for p in poses] == [len(b) for b in boxes]

  mesh = sharding.make_mesh()
  experiment = experiment_lib.Experiment(config)
  evaluated = eval_loop.predict(experiment, model.variables, dataset, mesh, show_progress=False)
  by_sample = {i: p for i, p in zip(range(len(dataset)), evaluated['final'])}
  for t, b, index in order:
    np.testing.assert_allclose(poses[t][b].keypoints, by_sample[index].keypoints, rtol=0,
                               atol=1e-4)

  results, _, _, _ = eval_loop.score_predictions(config, evaluated, str(tmp_path / 'eval'))
  gt_dir = eval_loop.ground_truth_dir(config)
  video = ptv.read_video(sorted(glob.glob(os.path.join(gt_dir, '*.json')))[0], ptv.GROUND_TRUTH)
  posetrack_output.write_poses(str(tmp_path / 'api' / f'{video.name}.json'), video.name,
                               [f.file_name for f in video.frames], poses)
  ours = evaluation.evaluate_folders(gt_dir, str(tmp_path / 'api'))
  assert results['final'].mean > 20          # the fixture has learnt something
  assert abs(ours.mean - results['final'].mean) < 1e-9


def test_a_translated_video_gives_translated_poses(predictor):
  """A photograph moved by whole pixels, its box with it, gives the poses moved by the shift.

  The geometry is exact: the network's outputs on the same crops, mapped back through the moved
  box, move every joint by exactly the shift. The moved video itself gives crops equal only up
  to OpenCV's fixed-point bilinear rounding, which depends on the CPU: with AVX-512 warpAffine
  rounds some source positions differently for another translation (measured: 1 grey level in
  9 of the 331,776 input values, scores within 1.9e-5, the decode's argmax and quarter-step
  margins as small as 3.6e-5), with AVX2 it gave identical crops. So the crops are pinned to one
  grey level in at most 0.1% of the values, the scores to 1e-4 and the joints to one heatmap
  cell (a decode decision may tip on a difference that small).
  """
  skimage_data = pytest.importorskip('skimage.data')
  canvas = np.zeros((400, 480, 3), np.uint8)
  canvas[60:316, 90:346] = skimage_data.astronaut()[::2, ::2]   # 256x256 RGB
  video = [canvas, np.roll(canvas, 2, axis=1), np.roll(canvas, (1, 3), axis=(0, 1))]
  box = np.array([130.0, 80.0, 170.0, 230.0])
  still = predictor.predict(video, [[box]] * 3)
  still_crops = _clip_inputs(predictor, video, box)
  coords, maxvals = (v[:3] for v in predictor.predict_crops(still_crops))
  config = predictor.config
  cell = box[3] * config.data.box_enlarge / config.model.heatmap_size[1]   # image px per cell
  for dx, dy in ((9, 4), (-13, 21)):
    moved_box = box + [dx, dy, 0, 0]
    crop = predictor.cropper.crop(moved_box)
    mapped = decoding.image_keypoints(coords, maxvals, {
        'center': np.stack([crop.center] * 3), 'scale': np.stack([crop.scale] * 3),
        'rotation': np.zeros(3), 'box_score': np.ones(3)}, config)
    moved_video = [np.roll(f, (dy, dx), axis=(0, 1)) for f in video]
    moved_crops = _clip_inputs(predictor, moved_video, moved_box)
    moved = predictor.predict(moved_video, [[moved_box]] * 3)
    for name, crops in still_crops.items():
      differ = np.abs(crops.astype(int) - moved_crops[name].astype(int))
      assert differ.max() <= 1 and np.count_nonzero(differ) <= 1e-3 * differ.size, name
    for a, b, exact in zip(still, moved, mapped):
      np.testing.assert_allclose(exact[:, :2] - a[0].keypoints[:, :2],
                                 np.broadcast_to([dx, dy], (17, 2)), rtol=0, atol=1e-9)
      np.testing.assert_array_equal(exact[:, 2], a[0].keypoints[:, 2])
      np.testing.assert_allclose(b[0].keypoints[:, :2] - a[0].keypoints[:, :2],
                                 np.broadcast_to([dx, dy], (17, 2)), rtol=0, atol=cell)
      np.testing.assert_allclose(b[0].keypoints[:, 2], a[0].keypoints[:, 2], rtol=0, atol=1e-4)


def _clip_inputs(predictor, video, box) -> dict[str, np.ndarray]:
  """The uint8 network batch `predict` builds for one box in each frame of `video`: rows 0..T-1,
  the rest zero, so the same compiled function sees the same input."""
  batch = predictor._empty_batch()   # pylint: disable=protected-access
  crop = predictor.cropper.crop(box)
  for t in range(len(video)):
    predictor.cropper.write_inputs(video, t, crop, batch['key_image'][t],
                                   batch['supporting_images'][t])
  return batch


def test_boxes_that_do_not_match_the_frames_are_named(predictor):
  frames = [np.zeros((64, 64, 3), np.uint8)] * 3
  with pytest.raises(ValueError, match='boxes are given for 2 frames, the video has 3'):
    predictor.predict(frames, [[], []])
  with pytest.raises(ValueError, match=r'frame 1 box 0: box \[1.0, 2.0, 0.0, 5.0\]: box has '
                                       'zero or negative size'):
    predictor.predict(frames, [[], [[1, 2, 0, 5]], []])
  with pytest.raises(ValueError, match=r'frame 0 box 1: box \[70.0, 2.0, 9.0, 5.0\]: box lies '
                                       'entirely outside the 64x64 image'):
    predictor.predict(frames, [[[1, 2, 9, 5], [70, 2, 9, 5]], [], []])
  with pytest.raises(ValueError, match=r'frame 2 box 0: box \[1.0, nan, 9.0, 5.0\] needs four '
                                       'finite numbers'):
    predictor.predict(frames, [[], [], [[1, np.nan, 9, 5]]])
  with pytest.raises(ValueError, match=r'frame 2: frames must be \[H, W, 3\] uint8'):
    predictor.predict(frames[:2] + [np.zeros((64, 64), np.uint8)], [[], [], []])


def test_a_frame_without_persons_and_the_batch_padding(predictor):
  frames = [np.full((96, 128, 3), 90, np.uint8)] * 4
  boxes = [[], [[10, 10, 40, 60]] * 9, [], [[0, 0, 128, 96, 0.5]]]   # 10 persons, batch 8
  poses = predictor.predict(frames, boxes)
  assert [len(p) for p in poses] == [0, 9, 0, 1]
  np.testing.assert_array_equal(poses[1][0].keypoints, poses[1][8].keypoints)
  assert poses[3][0].box_score == 0.5 and poses[3][0].track_id is None


def test_a_video_file_is_decoded_once_even_with_far_supporting_frames(held_out, model, tmp_path,
                                                                      monkeypatch):
  """Offsets +-5 on a 20-frame mp4: the poses of the path equal those of its decoded frames,
  and the file is opened twice (the counting pass, then one in-order decode), never once per
  key frame."""
  config, dataset = held_out
  frames, boxes, _ = _video_boxes(dataset)
  order = list(range(len(frames))) + list(range(len(frames) - 1, -1, -1))
  path = str(tmp_path / 'clip.mp4')
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25.0, frames.size)
  for t in order:
    writer.write(cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR))
  writer.release()
  far = trained_model.load_trained_model(FIXTURE).config
  far.data.supporting_offsets = (-5, 5)
  predictor = predictor_lib.Predictor(far, model.variables, batch_size=8)
  clip_boxes = [boxes[t][:2] for t in order]
  with video_frames.open_frames(path) as video:
    decoded = [video[t].copy() for t in range(len(video))]
  opened = []
  real_open = video_frames.VideoFileFrames._open
  monkeypatch.setattr(video_frames.VideoFileFrames, '_open',
                      lambda self: opened.append(1) or real_open(self))
  from_path = predictor.predict(path, clip_boxes)
  assert len(opened) == 2
  from_arrays = predictor.predict(decoded, clip_boxes)
  for a, b in zip(from_path, from_arrays):
    for pa, pb in zip(a, b):
      np.testing.assert_array_equal(pa.keypoints, pb.keypoints)


def test_the_flip_test_equals_evaluation_with_it(held_out, model):
  config, dataset = held_out
  flipped = trained_model.load_trained_model(FIXTURE).config
  flipped.data.root = config.data.root
  flipped.data.eval_boxes = 'ground_truth'
  flipped.eval.flip_test = True
  experiment = experiment_lib.Experiment(flipped)
  evaluated = eval_loop.predict(experiment, model.variables, dataset, sharding.make_mesh(),
                                show_progress=False)['final']
  frames, boxes, order = _video_boxes(dataset)
  predictor = predictor_lib.Predictor(model.config, model.variables, batch_size=8,
                                      flip_test=True)
  plain = predictor_lib.Predictor(model.config, model.variables, batch_size=8, flip_test=False)
  poses, without = predictor.predict(frames, boxes), plain.predict(frames, boxes)
  differs = 0
  for t, b, index in order:
    np.testing.assert_allclose(poses[t][b].keypoints, evaluated[index].keypoints, rtol=0,
                               atol=1e-4)
    differs += not np.allclose(poses[t][b].keypoints, without[t][b].keypoints)
  assert differs > len(order) // 2     # the flip test changed the poses
