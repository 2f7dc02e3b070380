"""PoseTrack mAP: golden cases whose answers are derived by hand in the comments."""

import contextlib
import io
import os

import numpy as np
import pytest

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax import evaluation
from famipose_jax.evaluation import __main__ as cli
from famipose_jax.evaluation import posetrack_frames
from famipose_jax.evaluation import posetrack_map

E = joints.EVAL_JOINT_NAMES.index
WRISTS = (E('right_wrist'), E('left_wrist'))
# A pose in poseval's 15-joint order, joints 12 px apart in x and 20 in y.
POSE = np.stack([100 + 12 * np.arange(15.0), 100 + 20 * (np.arange(15.0) % 5)], axis=1)
# Head box 20 x 25: head size 0.6 * sqrt(20^2 + 25^2) = 19.21 px, threshold 9.6 px.
HEAD = np.array([0.0, 0.0, 20.0, 25.0])


def _person(xy15, third=1.0, offset=(0.0, 0.0), head=True, joints_mask=None):
  keypoints = np.zeros((17, 3))
  present = np.zeros(17, bool)
  mask = np.ones(15, bool) if joints_mask is None else np.asarray(joints_mask)
  third = np.broadcast_to(np.asarray(third, np.float64), (15,))
  for j in np.flatnonzero(mask):
    slot = joints.SLOT_OF_EVAL_JOINT[j]
    keypoints[slot] = (xy15[j, 0] + offset[0], xy15[j, 1] + offset[1], third[j])
    present[slot] = True
  box = HEAD + np.tile(np.asarray(offset, np.float64), 2) if head else None
  return ptv.PersonAnnotation(keypoints=keypoints, present=present, head_box=box)


def _videos(frames, name='v', gt_regions=None):
  """(gt video, prediction video) from a list of (gt persons, predicted persons) per frame."""
  gt_frames, pred_frames = [], []
  for i, (gt, pred) in enumerate(frames):
    regions = (gt_regions or {}).get(i, [])
    gt_frames.append(ptv.FrameAnnotation(f'images/{name}/{i:06d}.jpg', i, i + 1, bool(gt),
                                         regions, list(gt)))
    pred_frames.append(ptv.FrameAnnotation(f'images/{name}/{i:06d}.jpg', i, i + 1, bool(gt),
                                           [], list(pred)))
  return (ptv.VideoAnnotation(name, ptv.POSETRACK17, gt_frames),
          ptv.VideoAnnotation(name, ptv.POSETRACK17, pred_frames))


def _evaluate(frames, **kwargs):
  gt, pred = _videos(frames, **kwargs)
  return evaluation.evaluate_videos([gt], [pred])


def _worked_case(wrist_shift=0.0):
  frames = []
  for f in range(4):
    gt = [_person(POSE, offset=(300 * p, 5 * f)) for p in range(2)]
    moved = POSE.copy()
    moved[list(WRISTS), 0] += wrist_shift
    pred = [_person(moved, 0.9, offset=(300 * p, 5 * f)) for p in range(2)]
    frames.append((gt, pred))
  return frames


def test_worked_case_perfect_predictions():
  result = _evaluate(_worked_case())
  assert result.columns == {name: 100.0 for name in
                            ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Mean']}
  np.testing.assert_array_equal(result.num_gt_joints, [8] * 15)
  np.testing.assert_array_equal(result.num_predicted_joints, [8] * 15)
  assert (result.num_videos, result.num_frames) == (1, 4)


def test_worked_case_wrists_moved_40px():
  # 40 px / 19.21 px = 2.08 > 0.5: every wrist is a false positive, the persons still match
  # (PCKh 13/15), so every other joint stays at 100 and Mean = 13/15 x 100.
  result = _evaluate(_worked_case(wrist_shift=40.0))
  columns = result.columns
  assert columns['Wrist'] == 0.0
  assert all(columns[n] == 100.0 for n in ['Head', 'Shoulder', 'Elbow', 'Hip', 'Knee', 'Ankle'])
  assert columns['Mean'] == pytest.approx(100 * 13 / 15)
  assert f"{columns['Mean']:.1f}" == '86.7'
  np.testing.assert_array_equal(result.joint_precision[list(WRISTS)], [0, 0])


def _ranking_case():
  """One frame: three GT persons, two matching predictions, two false-positive persons."""
  gts = [_person(POSE, offset=(400 * g, 0)) for g in range(3)]
  far = (0.0, 1000.0)
  wrist_fp_score = np.full(15, 0.8)
  wrist_fp_score[list(WRISTS)] = 0.95
  preds = [
      _person(POSE, 0.9, offset=(0, 0)),                 # matches GT 0
      _person(POSE, wrist_fp_score, offset=far),         # false positive (far from all GT)
      _person(POSE, 0.7, offset=(400, 0)),               # matches GT 1
      _person(POSE, 0.6, offset=(400, 1000)),            # false positive; GT 2 stays unmatched
  ]
  return [(gts, preds)]


def test_fractional_ap_from_score_ranking():
  # nGT = 3 per joint. Most joints rank TP 0.9, FP 0.8, TP 0.7, FP 0.6:
  #   precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3.
  #   Monotone precision at the recall steps 1/3, 2/3, 1: 1, 2/3, 0.
  #   AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0 = 5/9 = 55.56.
  # Wrists rank FP 0.95 first: precision 0, 1/2, 2/3, 1/2; recall 0, 1/3, 2/3, 2/3.
  #   Monotone precision at the steps: 2/3, 2/3, 0. AP = 4/9 = 44.44.
  # Mean = (13 * 5/9 + 2 * 4/9) / 15 = 73/135 = 54.07; Wrist column 44.44, others 55.56.
  result = _evaluate(_ranking_case())
  columns = result.columns
  assert columns['Wrist'] == pytest.approx(400 / 9)
  for name in ['Head', 'Shoulder', 'Elbow', 'Hip', 'Knee', 'Ankle']:
    assert columns[name] == pytest.approx(500 / 9)
  assert columns['Mean'] == pytest.approx(100 * 73 / 135)
  # Final precision 2/4 and recall 2/3 for every joint.
  np.testing.assert_allclose(result.joint_precision, 50.0)
  np.testing.assert_allclose(result.joint_recall, 200 / 3)
  np.testing.assert_array_equal(result.num_gt_joints, [3] * 15)
  np.testing.assert_array_equal(result.num_predicted_joints, [4] * 15)


def test_an_extra_false_positive_person_and_an_unmatched_gt():
  # Perfect predictions plus one far-away person scored 0.95 (ranked first):
  #   precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> AP = 1/2 * 2/3 + 1/2 * 2/3 = 66.67.
  gts = [_person(POSE), _person(POSE, offset=(300, 0))]
  preds = [_person(POSE, 0.9), _person(POSE, 0.95, offset=(600, 600)),
           _person(POSE, 0.8, offset=(300, 0))]
  assert _evaluate([(gts, preds)]).mean == pytest.approx(200 / 3)
  # A low-scored false positive (0.5, ranked last) leaves AP at 100.
  preds[1] = _person(POSE, 0.5, offset=(600, 600))
  assert _evaluate([(gts, preds)]).mean == pytest.approx(100.0)
  # One GT without a prediction: recall stops at 1/2, AP = 50.
  assert _evaluate([(gts, preds[:1])]).mean == pytest.approx(50.0)
  # A prediction frame without persons: AP 0 for every joint (no prediction at all).
  result = _evaluate([(gts, [])])
  np.testing.assert_array_equal(result.joint_ap, np.zeros(15))


def test_assignment_is_not_greedy_by_score_nor_hungarian():
  # GT 1 = POSE; GT 0 = POSE with joints D = {0, 1, 2} moved 30 px.
  # P1 = POSE (score 0.5): PCKh with GT 0 = 12/15, with GT 1 = 1.
  # P0 = POSE with joints E = {3, 4, 5} moved 30 px (score 0.9): PCKh GT 0 = 9/15, GT 1 = 12/15.
  # Step 1: P0 keeps GT 1 (0.8), P1 keeps GT 1 (1.0). Step 2: GT 1 takes P1, GT 0 gets nobody,
  # so P0 is unassigned and all its joints are false positives. Every joint ranks FP 0.9 then
  # TP 0.5 with nGT = 2: AP = 1/2 * 1/2 = 25. (Greedy by score would give P0 -> GT 1 and
  # P1 -> GT 0; maximising total PCKh would give P0 -> GT 0 and P1 -> GT 1.)
  gt0 = POSE.copy()
  gt0[[0, 1, 2], 0] += 30
  p0 = POSE.copy()
  p0[[3, 4, 5], 0] += 30
  gts = [_person(gt0), _person(POSE)]
  preds = [_person(p0, 0.9), _person(POSE, 0.5)]
  result = _evaluate([(gts, preds)])
  np.testing.assert_allclose(result.joint_ap, 25.0)
  gt = posetrack_frames.Persons.from_frame(ptv.FrameAnnotation('f', 0, persons=gts))
  pred = posetrack_frames.Persons.from_frame(ptv.FrameAnnotation('f', 0, persons=preds))
  labels, pred_to_gt = posetrack_map.assign_frame(pred, gt, pckh_threshold=0.5,
                                                  head_size_factor=0.6)
  assert pred_to_gt.tolist() == [-1, 1]
  assert labels.sum(axis=1).tolist() == [0, 15]
  # Ties go to the lowest index: one prediction, two identical GT persons -> GT 0.
  twins = posetrack_frames.Persons.from_frame(
      ptv.FrameAnnotation('f', 0, persons=[_person(POSE), _person(POSE)]))
  one = posetrack_frames.Persons.from_frame(ptv.FrameAnnotation('f', 0, persons=[_person(POSE)]))
  _, pred_to_gt = posetrack_map.assign_frame(one, twins, pckh_threshold=0.5,
                                             head_size_factor=0.6)
  assert pred_to_gt.tolist() == [0]


def test_ignore_regions_delete_gt_and_predicted_joints():
  # Frame 0 has a polygon around the left ankle; the GT ankle and a wrong predicted ankle
  # (30 px off, scored 0.95) both lie inside and are deleted. Frame 1: a perfect prediction.
  # With the deletion the left ankle has 1 GT and 1 TP: AP 100. Without it the FP would rank
  # first: precision 0, 1/2 at recall 0, 1/2 -> AP 25.
  ankle = E('left_ankle')
  x, y = POSE[ankle]
  polygon = np.array([[x - 5, y - 5], [x + 40, y - 5], [x + 40, y + 5], [x - 5, y + 5]])
  wrong = POSE.copy()
  wrong[ankle, 0] += 30
  frames = [([_person(POSE)], [_person(wrong, 0.95)]), ([_person(POSE)], [_person(POSE, 0.9)])]
  result = _evaluate(frames, gt_regions={0: [polygon]})
  assert result.joint_ap[ankle] == 100.0
  assert result.num_gt_joints[ankle] == 1 and result.num_predicted_joints[ankle] == 1
  assert result.mean == 100.0
  assert _evaluate(frames).joint_ap[ankle] == pytest.approx(25.0)
  # A GT person entirely inside an ignore region is gone, and so is a prediction on it.
  everything = np.array([[0, 0], [2000, 0], [2000, 2000], [0, 2000]], np.float64)
  result = _evaluate([([_person(POSE)], [_person(POSE, 0.9)])] * 2,
                     gt_regions={0: [everything]})
  np.testing.assert_array_equal(result.num_gt_joints, [1] * 15)
  assert result.mean == 100.0


def test_points_in_polygon_excludes_the_boundary():
  square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float64)
  points = np.array([[5, 5], [0, 5], [10, 10], [5, 0], [11, 5], [-1, -1], [9.999, 0.001]])
  assert posetrack_frames.points_in_polygon(points, square).tolist() == [
      True, False, False, False, False, False, True]
  # A concave "U": the notch is outside.
  u_shape = np.array([[0, 0], [30, 0], [30, 30], [20, 30], [20, 10], [10, 10], [10, 30],
                      [0, 30]], np.float64)
  assert posetrack_frames.points_in_polygon(np.array([[15, 20], [5, 20], [25, 25], [15, 5]]),
                                         u_shape).tolist() == [False, True, True, True]
  assert posetrack_frames.points_in_polygon(np.array([[1, 1]]), square[:2]).tolist() == [False]


def test_frames_without_gt_persons_are_dropped_with_their_predictions():
  # Frame 1 has no GT person: its confident wrong prediction is ignored. Frame 2 has a GT person
  # with no annotated joint: the frame counts, so its prediction is a false positive (0.95).
  empty_person = _person(POSE, joints_mask=np.zeros(15, bool))
  frames = [([_person(POSE)], [_person(POSE, 0.9)]),
            ([], [_person(POSE, 0.99, offset=(7, 7))]),
            ([empty_person], [_person(POSE, 0.95, offset=(500, 0))])]
  result = _evaluate(frames)
  assert result.num_frames == 2
  np.testing.assert_array_equal(result.num_predicted_joints, [2] * 15)
  # FP 0.95 then TP 0.9 with nGT = 1: precision 0, 1/2 at recall 0, 1 -> AP 50.
  np.testing.assert_allclose(result.joint_ap, 50.0)


def test_missing_scores_and_nan_ap_for_joints_without_gt():
  # Only the head top is annotated in GT; predictions list every joint. The other 14 joints
  # have predictions but nGT = 0: poseval's AP is NaN there and the Mean skips them.
  only_head = np.zeros(15, bool)
  only_head[E('head_top')] = True
  result = _evaluate([([_person(POSE, joints_mask=only_head)], [_person(POSE, 0.9)])])
  assert result.joint_ap[E('head_top')] == 100.0
  assert np.isnan(result.joint_ap).sum() == 14
  assert result.mean == 100.0
  assert np.isnan(result.columns['Wrist'])


def _write_case(folder, frames, layout, name='000342_mpii_test', regions=None):
  gt, pred = _videos(frames, name=name, gt_regions=regions)
  os.makedirs(folder / 'gt', exist_ok=True)
  os.makedirs(folder / 'pred', exist_ok=True)
  ptv.write_video(gt, str(folder / 'gt' / f'{name}.json'), layout=layout[0])
  ptv.write_video(pred, str(folder / 'pred' / f'{name}.json'), layout=layout[1],
                  kind=ptv.PREDICTIONS)


@pytest.mark.parametrize('layout', [(ptv.POSETRACK17, ptv.POSETRACK17),
                                    (ptv.POSETRACK18, ptv.POSETRACK18),
                                    (ptv.POSETRACK17, ptv.POSETRACK18),
                                    (ptv.POSETRACK18, ptv.POSETRACK17)])
def test_folders_in_either_layout_give_the_same_numbers(tmp_path, layout):
  ankle = E('left_ankle')
  polygon = np.array([[POSE[ankle, 0] - 5, 95], [POSE[ankle, 0] + 5, 95],
                      [POSE[ankle, 0] + 5, 200], [POSE[ankle, 0] - 5, 200]])
  _write_case(tmp_path, _ranking_case(), layout, regions={0: [polygon]})
  _write_case(tmp_path, _worked_case(wrist_shift=40.0), layout, name='000522_mpii_test')
  result = evaluation.evaluate_folders(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  in_memory = evaluation.evaluate_videos(
      [_videos(_ranking_case(), '000342_mpii_test', {0: [polygon]})[0],
       _videos(_worked_case(40.0), '000522_mpii_test')[0]],
      [_videos(_ranking_case(), '000342_mpii_test')[1],
       _videos(_worked_case(40.0), '000522_mpii_test')[1]])
  np.testing.assert_array_equal(result.joint_ap, in_memory.joint_ap)
  # The polygon covers GT 0's left ankle (and prediction 0's) in the ranking video only.
  assert result.num_gt_joints[ankle] == 10 and result.num_gt_joints[0] == 11
  # Left ankle, nGT = 10: 8 TP at 0.9 (worked case), FP 0.8, TP 0.7, FP 0.6.
  #   Recall reaches 0.8 at precision 1, then 0.9 at precision 9/10: AP = 80 + 10 * 0.9 = 89.
  assert result.joint_ap[ankle] == pytest.approx(89.0)
  # Right wrist: FP 0.95, 8 FP 0.9 (moved), TP 0.9 ... -- ties at 0.9 make it order-dependent,
  # so pin only its agreement with the in-memory run above and its value range.
  assert 0.0 < result.joint_ap[WRISTS[0]] < 100.0 / 11


def test_folder_errors(tmp_path):
  (tmp_path / 'empty').mkdir()
  with pytest.raises(ValueError, match='no ground-truth files'):
    evaluation.evaluate_folders(str(tmp_path / 'empty'), str(tmp_path / 'empty'))
  _write_case(tmp_path, _worked_case(), (ptv.POSETRACK17, ptv.POSETRACK17), name='a')
  _write_case(tmp_path, _worked_case(), (ptv.POSETRACK17, ptv.POSETRACK17), name='b')
  os.remove(tmp_path / 'pred' / 'b.json')
  with pytest.raises(ValueError) as info:
    evaluation.evaluate_folders(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  message = str(info.value)
  assert "'b.json'" in message and str(tmp_path / 'gt') in message
  assert str(tmp_path / 'pred') in message
  gt, pred = _videos(_worked_case()[:3], name='b')
  ptv.write_video(pred, str(tmp_path / 'pred' / 'b.json'), kind=ptv.PREDICTIONS)
  with pytest.raises(ValueError) as info:
    evaluation.evaluate_folders(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  message = str(info.value)
  assert 'b.json: 3 frames' in message and 'has 4' in message and str(tmp_path / 'gt') in message
  gt, pred = _videos(_worked_case())
  with pytest.raises(ValueError, match='paired with prediction video'):
    evaluation.evaluate_videos([gt], [ptv.VideoAnnotation('w', ptv.POSETRACK17, pred.frames)])
  with pytest.raises(ValueError, match='no head box'):
    headless = [([_person(POSE, head=False)], [_person(POSE, 0.9)])]
    _evaluate(headless)


def test_table_and_command_line(tmp_path):
  result = _evaluate(_worked_case(wrist_shift=40.0))
  table = evaluation.format_table(result)
  assert table.splitlines()[0] == (
      '|  Head | Shoulder | Elbow | Wrist |   Hip |  Knee | Ankle |  Mean |')
  assert table.splitlines()[2] == (
      '| 100.0 |    100.0 | 100.0 |   0.0 | 100.0 | 100.0 | 100.0 |  86.7 |')
  two = evaluation.format_table({'backbone': _evaluate(_ranking_case()), 'final': result})
  lines = two.splitlines()
  assert lines[0].startswith('| Method   |  Head |')
  assert lines[2] == ('| backbone |  55.6 |     55.6 |  55.6 |  44.4 |  55.6 |  55.6 |  55.6 |'
                      '  54.1 |')
  assert lines[3].startswith('| final    | 100.0 |')

  _write_case(tmp_path, _worked_case(wrist_shift=40.0), (ptv.POSETRACK17, ptv.POSETRACK18))
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    assert cli.main([str(tmp_path / 'gt'), str(tmp_path / 'pred')]) == 0
  printed = out.getvalue().splitlines()
  assert printed[0] == '1 videos, 4 annotated frames, 120 ground-truth joints'
  assert printed[-1] == table.splitlines()[2]
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    assert cli.main([str(tmp_path / 'gt'), str(tmp_path / 'nowhere')]) == 2
  assert 'nowhere' in err.getvalue()
