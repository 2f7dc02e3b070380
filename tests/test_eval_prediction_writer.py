"""Prediction files: every frame present, the published dummy point, and decode -> mAP 100."""

import os

import numpy as np
import pytest

from configs import posetrack17
from data_pipeline import crop_affine
from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax.heads import decoding
from famipose_jax import evaluation

R_ANKLE_SLOT = joints.SLOT_OF_EVAL_JOINT[0]


def _gt_video(name, num_frames, rng):
  frames = []
  for f in range(num_frames):
    persons = []
    for p in range(2 if f % 3 else 0):
      keypoints = np.zeros((17, 3))
      keypoints[:, :2] = rng.uniform(0, 80, (17, 2)) + [200 + 250 * p, 150]
      keypoints[:, 2] = 1
      present = np.ones(17, bool)
      present[list(joints.UNANNOTATED_JOINTS)] = False
      keypoints[~present] = 0
      x, y = keypoints[0, :2]
      persons.append(ptv.PersonAnnotation(keypoints, present, head_box=[x - 15, y - 20, x + 15,
                                                                         y + 20], track_id=p))
    frames.append(ptv.FrameAnnotation(f'images/val/{name}/{f:08d}.jpg', f, f + 1, bool(persons),
                                      [], persons))
  return ptv.VideoAnnotation(name, ptv.POSETRACK17, frames)


def test_assemble_and_write_predictions(tmp_path):
  rng = np.random.default_rng(0)
  gt = [_gt_video('001001_mpii_test', 4, rng), _gt_video('001002_mpii_test', 3, rng)]
  keypoints = np.concatenate([rng.uniform(0, 500, (17, 2)), np.full((17, 1), 0.7)], axis=1)
  predictions = [
      evaluation.PosePrediction('images/val/001001_mpii_test/00000002.jpg', keypoints, 0.9),
      evaluation.PosePrediction('./images/val/001001_mpii_test/00000002.jpg', keypoints, 0.8,
                                bbox=np.array([1.0, 2.0, 3.0, 4.0])),
      evaluation.PosePrediction('images/val/001002_mpii_test/00000001.jpg', keypoints, 0.5),
  ]
  videos = evaluation.assemble_predictions(gt, predictions, missing_frame_score=-100.0)
  assert [len(v.frames) for v in videos] == [4, 3]
  frame = videos[0].frames[2]
  assert [p.track_id for p in frame.persons] == [0, 1]
  assert [p.score for p in frame.persons] == [0.9, 0.8]
  np.testing.assert_array_equal(frame.persons[1].keypoints, keypoints)
  dummy = videos[0].frames[0].persons
  assert len(dummy) == 1 and np.flatnonzero(dummy[0].present).tolist() == [R_ANKLE_SLOT]
  np.testing.assert_array_equal(dummy[0].keypoints[R_ANKLE_SLOT], [0, 0, -100])

  paths = evaluation.write_prediction_folder(videos, str(tmp_path / 'pred'),
                                             layout=ptv.POSETRACK17)
  assert [os.path.basename(p) for p in paths] == ['001001_mpii_test.json',
                                                  '001002_mpii_test.json']
  back = ptv.read_video(paths[0], ptv.PREDICTIONS)
  assert back.frames[0].persons[0].keypoints[R_ANKLE_SLOT].tolist() == [0, 0, -100]
  assert [len(f.persons) for f in back.frames] == [1, 1, 2, 1]
  # Ears have no poseval id: the annolist file lists 15 points per person.
  assert back.frames[2].persons[0].present.sum() == 15

  with pytest.raises(ValueError, match='00000009.jpg'):
    evaluation.assemble_predictions(gt, [evaluation.PosePrediction(
        'images/val/001001_mpii_test/00000009.jpg', keypoints, 0.9)], missing_frame_score=-100.0)


def test_decoded_heatmaps_of_the_ground_truth_score_100(tmp_path):
  """Crop every GT person, draw its joints as heatmaps, decode, write, evaluate: mAP 100."""
  config = posetrack17.get_config()
  rng = np.random.default_rng(1)
  gt = [_gt_video('001003_mpii_test', 4, rng)]
  image_size, heatmap_size = tuple(config.model.image_size), tuple(config.model.heatmap_size)
  boxes, centers, scales, maps = [], [], [], []
  for frame in gt[0].frames:
    for person in frame.persons:
      xy = person.keypoints[person.present, :2]
      box = [*xy.min(0), *(xy.max(0) - xy.min(0))]
      center, scale = crop_affine.box_to_center_scale(
          box, image_size[0] / image_size[1], config.data.box_enlarge, config.data.pixel_std)
      to_heatmap = crop_affine.crop_affine(center, scale, 0.0, heatmap_size,
                                           config.data.pixel_std)
      points = crop_affine.apply_affine(person.keypoints[:, :2], to_heatmap)
      y, x = np.mgrid[0:heatmap_size[1], 0:heatmap_size[0]]
      maps.append(np.stack([np.exp(-((x - px) ** 2 + (y - py) ** 2) / 18.0)
                            for px, py in points], -1).astype(np.float32))
      boxes.append(frame.file_name)
      centers.append(center)
      scales.append(scale)
  decoded = decoding.make_decoder(config)({'heatmaps': np.stack(maps)})
  batch = {'center': np.stack(centers), 'scale': np.stack(scales),
           'rotation': np.zeros(len(maps)), 'box_score': np.full(len(maps), 0.9)}
  keypoints = decoding.image_keypoints(*decoded['final'], batch, config)
  predictions = [evaluation.PosePrediction(name, kp, 0.9) for name, kp in zip(boxes, keypoints)]
  videos = evaluation.assemble_predictions(
      gt, predictions, missing_frame_score=config.eval.missing_frame_score)
  evaluation.write_prediction_folder(videos, str(tmp_path / 'pred'),
                                     layout=config.eval.prediction_layout)
  ptv.write_video(gt[0], str(tmp_path / 'gt' / '001003_mpii_test.json'))
  result = evaluation.evaluate_folders(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  assert result.columns['Mean'] == 100.0
  np.testing.assert_array_equal(result.num_gt_joints, [4] * 15)
