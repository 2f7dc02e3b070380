"""PoseTrack tracking metrics: golden cases whose answers are derived by hand in the comments.

Every person stands 300 px from the others, so a joint can only pair with the same joint of
the same person. Head box 30 x 40: head size 0.6 x 50 = 30 px, so a predicted joint matches
within 15 px and a 3 px shift is a normalised distance of 0.1.
"""

import contextlib
import io
import os

import numpy as np
import pytest

from configs import posetrack17
from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax.evaluation import loop as eval_loop
from famipose_jax import evaluation
from famipose_jax.evaluation import __main__ as cli

E = joints.EVAL_JOINT_NAMES.index
POSE = np.stack([100 + 12 * np.arange(15.0), 100 + 20 * (np.arange(15.0) % 5)], axis=1)
HEAD = np.array([0.0, 0.0, 30.0, 40.0])
ALL = [100.0] * 15


def _person(track_id, x=0.0, shift=(0.0, 0.0), score=0.9, mask=None, point_list=True):
  """A person `x` px right of POSE, joints moved by `shift`, head box moved with the person."""
  keypoints = np.zeros((17, 3))
  present = np.zeros(17, bool)
  mask = np.ones(15, bool) if mask is None else np.asarray(mask)
  for j in np.flatnonzero(mask if point_list else []):
    slot = joints.SLOT_OF_EVAL_JOINT[j]
    keypoints[slot] = (POSE[j, 0] + x + shift[0], POSE[j, 1] + shift[1], score)
    present[slot] = True
  return ptv.PersonAnnotation(keypoints=keypoints, present=present,
                              head_box=HEAD + [x, 0, x, 0], track_id=track_id,
                              has_point_list=point_list)


def _videos(frames, name='v', regions=None):
  """(gt video, prediction video) from a list of (gt persons, predicted persons) per frame."""
  gt_frames, pred_frames = [], []
  for i, (gt, pred) in enumerate(frames):
    file_name = f'images/val/{name}/{i:06d}.jpg'
    gt_frames.append(ptv.FrameAnnotation(file_name, i, i + 1, bool(gt),
                                         (regions or {}).get(i, []), list(gt)))
    pred_frames.append(ptv.FrameAnnotation(file_name, i, i + 1, bool(gt), [], list(pred)))
  return (ptv.VideoAnnotation(name, ptv.POSETRACK17, gt_frames),
          ptv.VideoAnnotation(name, ptv.POSETRACK17, pred_frames))


def _evaluate(*cases):
  """Tracking result of one or more videos, each given as frames or (frames, regions)."""
  pairs = [_videos(case[0], f'v{i}', case[1]) if isinstance(case, tuple) else
           _videos(case, f'v{i}') for i, case in enumerate(cases)]
  return evaluation.evaluate_tracking([g for g, _ in pairs], [p for _, p in pairs])


def _two_tracks(pred_of_frame, num_frames=4):
  """GT tracks 1 and 2 (300 px apart) in every frame; predictions from pred_of_frame(f)."""
  return [([_person(1), _person(2, x=300)], pred_of_frame(f)) for f in range(num_frames)]


def test_a_perfect_tracker_and_poseval_motp():
  # 4 frames, the last one left out: 3 scored frames x 2 persons = 6 objects per joint, all
  # matched at distance 0: MOTA, MOTP, precision, recall 100.
  perfect = _evaluate(_two_tracks(lambda f: [_person(7), _person(9, x=300, score=0.01)]))
  assert (perfect.num_frames, perfect.num_videos) == (3, 1)
  np.testing.assert_array_equal(perfect.num_objects, [6] * 15)
  np.testing.assert_array_equal(perfect.num_detections, [6] * 15)
  np.testing.assert_array_equal(perfect.joint_mota, ALL)
  assert perfect.columns == {'Head': 100.0, 'Shoulder': 100.0, 'Elbow': 100.0, 'Wrist': 100.0,
                             'Hip': 100.0, 'Knee': 100.0, 'Ankle': 100.0, 'MOTA': 100.0,
                             'MOTP': 100.0, 'Precision': 100.0, 'Recall': 100.0}
  # Every predicted joint 3 px off (distance 0.1). Each frame records the pair twice: a RAW
  # event (a pair that could match) and its MATCH, so poseval's distance sum per joint is
  # 12 x 0.1 = 1.2 and MOTP = 100 (1 - 1.2 / 6) = 80; CLEAR-MOT's would be 100 (1 - 0.6 / 6).
  shifted = _evaluate(_two_tracks(lambda f: [_person(7, shift=(3, 0)),
                                             _person(9, x=300, shift=(0, -3))]))
  np.testing.assert_allclose(shifted.joint_motp, 80.0)
  np.testing.assert_allclose(shifted.sum_distance, 1.2)
  np.testing.assert_allclose(100 * (1 - shifted.sum_match_distance / shifted.num_detections),
                             90.0)
  assert (shifted.mota, shifted.precision, shifted.recall) == (100.0, 100.0, 100.0)
  assert shifted.motp == pytest.approx(80.0)


def test_an_id_switch():
  # Predicted ids 7 (on track 1) and 9 (on track 2) trade places from frame 1 on. Frame 1:
  # both objects match another id than before -> 2 switches; frame 2 keeps the new pairs.
  # Per joint: 6 objects, 6 detections, 2 switches: MOTA = 100 (1 - 2/6) = 66.7; precision
  # and recall stay 100 (a switch is a detection).
  result = _evaluate(_two_tracks(lambda f: [_person(7 if f == 0 else 9),
                                            _person(9 if f == 0 else 7, x=300)]))
  np.testing.assert_array_equal(result.num_switches, [2] * 15)
  np.testing.assert_allclose(result.joint_mota, 100 * (1 - 2 / 6))
  assert (result.precision, result.recall, result.motp) == (100.0, 100.0, 100.0)


def test_a_missed_track_and_a_false_positive():
  # Track 2 is never predicted: 6 objects, 3 misses: MOTA 50, precision 100, recall 50.
  missed = _evaluate(_two_tracks(lambda f: [_person(7)]))
  np.testing.assert_array_equal(missed.num_misses, [3] * 15)
  assert (missed.mota, missed.precision, missed.recall) == (50.0, 100.0, 50.0)
  # One GT track, predicted, plus a person 600 px away with id 99 in every frame: 3 objects,
  # 3 detections, 3 false positives: MOTA = 100 (1 - 3/3) = 0, precision 50, recall 100.
  extra = _evaluate([([_person(1)], [_person(7), _person(99, x=600)])] * 4)
  np.testing.assert_array_equal(extra.num_false_positives, [3] * 15)
  assert (extra.mota, extra.precision, extra.recall) == (0.0, 50.0, 100.0)


def test_a_frame_without_predictions_gets_phantom_ids():
  # Frame 1 has no prediction: poseval gives each joint one phantom object and one phantom
  # hypothesis that never match, whatever the 2 GT persons: 1 object, 1 miss, 1 FP. Frames 0
  # and 2 match both persons. Per joint: 5 objects, 4 detections, 1 miss, 1 FP:
  # MOTA = 100 (1 - 2/5) = 60, precision 4/5, recall 4/5.
  def predicted(f):
    return [] if f == 1 else [_person(7), _person(9, x=300)]
  result = _evaluate(_two_tracks(predicted))
  np.testing.assert_array_equal(result.num_objects, [5] * 15)
  np.testing.assert_array_equal(result.num_misses, [1] * 15)
  np.testing.assert_array_equal(result.num_false_positives, [1] * 15)
  assert (result.mota, result.precision, result.recall) == (60.0, 80.0, 80.0)
  # A person without a point list is dropped as poseval drops it: the same phantom frame.
  no_list = _evaluate(_two_tracks(lambda f: [_person(5, point_list=False)] if f == 1
                                  else predicted(f)))
  assert no_list.mota == 60.0
  # A person with an empty point list stays, so the frame is not empty: its 2 GT persons are
  # 2 misses per joint. 6 objects, 4 detections: MOTA = recall = 66.7, precision 100.
  empty_list = _evaluate(_two_tracks(lambda f: [_person(5, mask=np.zeros(15, bool))] if f == 1
                                     else predicted(f)))
  np.testing.assert_array_equal(empty_list.num_misses, [2] * 15)
  assert empty_list.mota == pytest.approx(100 * 4 / 6) and empty_list.precision == 100.0


def test_the_last_annotated_frame_is_left_out():
  # Frames 0-2 are predicted perfectly; frame 3, the last with a GT person, has only a false
  # positive; frame 4 has no GT person (dropped, with its prediction). poseval leaves frame 3
  # out: MOTA 100 over 3 frames.
  good = ([_person(1)], [_person(7)])
  frames = [good] * 3 + [([_person(1)], [_person(99, x=600)]), ([], [_person(98, x=900)])]
  result = _evaluate(frames)
  assert (result.num_frames, result.mota) == (3, 100.0)
  # With a GT person in frame 4 too, frame 3 counts: 4 objects, 1 miss, 1 FP: MOTA 50.
  frames[4] = ([_person(1)], [_person(98, x=900)])
  result = _evaluate(frames)
  assert (result.num_frames, result.mota, result.precision, result.recall) == (
      4, 50.0, 75.0, 75.0)


def test_ignore_regions():
  # Frame 0 has a polygon around the left ankle (160, 100); the predicted left ankle, 30 px
  # off (no match), lies inside too. Both are deleted, so the left ankle has 2 objects, both
  # matched: MOTA 100. Without the polygon frame 0 adds a miss and a false positive:
  # 3 objects -> MOTA = 100 (1 - 2/3) = 33.3.
  ankle = E('left_ankle')

  def frames():
    wrong_ankle = _person(7)
    wrong_ankle.keypoints[joints.SLOT_OF_EVAL_JOINT[ankle], 0] += 30
    return [([_person(1)], [wrong_ankle])] + [([_person(1)], [_person(7)])] * 3
  polygon = np.array([[155, 95], [195, 95], [195, 105], [155, 105]], np.float64)
  with_region = _evaluate((frames(), {0: [polygon]}))
  assert with_region.num_objects[ankle] == 2 and with_region.joint_mota[ankle] == 100.0
  assert with_region.mota == 100.0
  without = _evaluate(frames())
  assert without.num_objects[ankle] == 3
  assert without.joint_mota[ankle] == pytest.approx(100 / 3)
  # A polygon over the whole frame 1 deletes every joint of the GT and the predicted person:
  # both are dropped and the frame gets the phantom pair. Per joint: 3 objects, 2 matched,
  # 1 miss, 1 FP: MOTA = 100 (1 - 2/3) = 33.3.
  everything = np.array([[0, 0], [2000, 0], [2000, 2000], [0, 2000]], np.float64)
  covered = _evaluate(([([_person(1)], [_person(7)])] * 4, {1: [everything]}))
  np.testing.assert_array_equal(covered.num_false_positives, [1] * 15)
  assert covered.mota == pytest.approx(100 / 3)


def test_totals_count_over_videos_and_skip_nan_joints():
  # Video a: 3 scored frames, matched. Video b: 3 frames, only a stray person: 2 scored frames,
  # 2 misses and 2 FPs. Video c: one annotated frame, which is the last: nothing scored.
  # Counts add up over videos: 5 objects, 3 detections, 2 misses, 2 FPs: MOTA = 20,
  # precision = recall = 60 (the mean of the videos' MOTA, 100 and -100, would be 0).
  result = _evaluate([([_person(1)], [_person(7)])] * 4,
                     [([_person(1)], [_person(5, x=600)])] * 3,
                     [([_person(1)], [_person(7)]), ([], [])])
  assert (result.num_videos, result.num_frames) == (2, 5)
  assert result.mota == pytest.approx(20.0)
  assert (result.precision, result.recall) == (pytest.approx(60.0), pytest.approx(60.0))
  # Only the 3 head joints are annotated; the predictions list all 15 at a low score (scores
  # are ignored). The 12 others have no object: MOTA and recall NaN, left out of the totals;
  # precision 0 (false positives only) and MOTP 0 (no detection) count.
  head = np.zeros(15, bool)
  head[[E('head_bottom'), E('nose'), E('head_top')]] = True
  only_head = _evaluate([([_person(1, mask=head)], [_person(7, score=0.001)])] * 3)
  assert np.isnan(only_head.joint_mota).sum() == 12 and only_head.mota == 100.0
  assert only_head.recall == 100.0
  assert only_head.precision == pytest.approx(3 * 100 / 15)
  assert only_head.motp == pytest.approx(3 * 100 / 15)
  assert np.isnan(only_head.columns['Wrist']) and only_head.columns['Head'] == 100.0


def test_track_id_errors():
  with pytest.raises(ValueError, match=r"video 'v0' frame 1 .*predicted person 0 has no "
                                       'track_id'):
    _evaluate([([_person(1)], [_person(7)]), ([_person(1)], [_person(None)])])
  with pytest.raises(ValueError, match=r"frame 0 .*two predicted persons have track_id 7"):
    _evaluate([([_person(1), _person(2, x=300)], [_person(7), _person(7, x=300)])] * 2)
  gt, pred = _videos([([_person(1)], [_person(7)])])
  assert evaluation.carries_track_ids([pred])
  pred.frames[0].persons[0].track_id = None
  assert not evaluation.carries_track_ids([pred])


def _write_folders(root, frames, pred_layout=ptv.POSETRACK18, name='000342_mpii_test'):
  gt, pred = _videos(frames, name=name)
  ptv.write_video(gt, str(root / 'gt' / f'{name}.json'))
  ptv.write_video(pred, str(root / 'pred' / f'{name}.json'), layout=pred_layout,
                  kind=ptv.PREDICTIONS)


def _run_cli(*args):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.main([str(a) for a in args])
  return code, out.getvalue().splitlines(), err.getvalue()


def test_command_line_prints_the_tracking_table(tmp_path):
  switch = _two_tracks(lambda f: [_person(7 if f == 0 else 9), _person(9 if f == 0 else 7,
                                                                       x=300)])
  _write_folders(tmp_path, switch)
  code, lines, _ = _run_cli(tmp_path / 'gt', tmp_path / 'pred')
  assert code == 0
  assert lines[4:] == [
      '',
      "Tracking: MOTA per joint group, then the totals (3 frames of 1 videos; each video's "
      'last annotated frame is left out)',
      '|  Head | Shoulder | Elbow | Wrist |   Hip |  Knee | Ankle |  MOTA |  MOTP | Precision | '
      'Recall |',
      '|-------|----------|-------|-------|-------|-------|-------|-------|-------|-----------|'
      '--------|',
      '|  66.7 |     66.7 |  66.7 |  66.7 |  66.7 |  66.7 |  66.7 |  66.7 | 100.0 |     100.0 | '
      ' 100.0 |']
  code, lines, _ = _run_cli(tmp_path / 'gt', tmp_path / 'pred', '--tracking', 'never')
  assert code == 0 and len(lines) == 4
  # Predictions without track ids: auto prints the mAP table only, always refuses.
  no_ids = [(gt, [_person(None)]) for gt, _ in switch]
  _write_folders(tmp_path, no_ids, pred_layout=ptv.POSETRACK17)
  code, lines, _ = _run_cli(tmp_path / 'gt', tmp_path / 'pred')
  assert code == 0 and len(lines) == 4
  code, _, err = _run_cli(tmp_path / 'gt', tmp_path / 'pred', '--tracking', 'always')
  assert code == 2 and 'not every predicted person has a track_id' in err


MAP_TABLE_LINES = 4       # the counts line, then the mAP table's header, rule and row


def test_command_line_prints_the_map_table_before_refusing_a_repeated_track_id(tmp_path):
  repeated = _two_tracks(lambda f: [_person(7), _person(7 if f == 2 else 9, x=300)])
  _write_folders(tmp_path, repeated)
  code, lines, err = _run_cli(tmp_path / 'gt', tmp_path / 'pred')
  assert code == 2 and len(lines) == MAP_TABLE_LINES
  assert lines[3].endswith('| 100.0 |')          # AP is unaffected by track ids
  assert err.splitlines()[-1] == (
      f"error: no tracking metrics for {tmp_path / 'pred'}: video '000342_mpii_test' frame 2 "
      '(images/val/000342_mpii_test/000002.jpg): two predicted persons have track_id 7; the '
      'tracking metrics need distinct ids within a frame')


def test_command_line_says_when_only_some_predictions_have_track_ids(tmp_path):
  some = _two_tracks(lambda f: [_person(7), _person(None if f == 1 else 9, x=300)])
  _write_folders(tmp_path, some, pred_layout=ptv.POSETRACK17)
  code, lines, err = _run_cli(tmp_path / 'gt', tmp_path / 'pred')
  assert code == 0 and len(lines) == MAP_TABLE_LINES
  assert err.splitlines() == [f"note: {tmp_path / 'pred'}: 1 of 8 predicted persons in "
                              'annotated frames have no track_id: no tracking metrics']


def test_frames_without_ground_truth_need_no_track_ids_and_may_repeat_them(tmp_path, caplog):
  # Frame 4 has no ground-truth person: no metric scores it, so a missing or repeated id there
  # changes nothing, in the command (--tracking always too) as in the Python API.
  unlabelled_extra = _two_tracks(lambda f: [_person(7), _person(9, x=300)]) + [
      ([], [_person(None), _person(None, x=300)])]
  _write_folders(tmp_path, unlabelled_extra, pred_layout=ptv.POSETRACK17)
  code, lines, _ = _run_cli(tmp_path / 'gt', tmp_path / 'pred', '--tracking', 'always')
  assert code == 0 and lines[-1].startswith('| 100.0 |') and len(lines) == MAP_TABLE_LINES + 5
  gt, pred = evaluation.read_folder_pair(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  assert evaluation.evaluate_tracking(gt, pred).mota == 100.0
  unlabelled_repeat = unlabelled_extra[:4] + [([], [_person(3), _person(3, x=300)])]
  _write_folders(tmp_path, unlabelled_repeat)
  with caplog.at_level('WARNING'):
    code, lines, _ = _run_cli(tmp_path / 'gt', tmp_path / 'pred')
  assert code == 0 and len(lines) == MAP_TABLE_LINES + 5
  assert [r.getMessage() for r in caplog.records] == [
      f"{tmp_path / 'pred' / '000342_mpii_test.json'}: 1 frames without ground-truth persons "
      'repeat a track id (first: frame 4): no metric scores these frames, so neither AP nor '
      'tracking is affected (poseval would refuse the file)']


# The table rows of a single-frame network's predictions (Experiment.prediction_labels).
SINGLE_FRAME_ROWS = {'backbone': 'backbone only', 'final': 'single-frame HRNet'}


def _training_setup(tmp_path):
  """A val ground-truth folder where eval_loop looks, and a prediction per GT person."""
  config = posetrack17.get_config()
  config.data.root = str(tmp_path)
  config.data.video_annotation_dir = 'annotations'
  gt, _ = _videos(_two_tracks(lambda f: []), name='000342_mpii_test')
  os.makedirs(eval_loop.ground_truth_dir(config))
  ptv.write_video(gt, os.path.join(eval_loop.ground_truth_dir(config), '000342_mpii_test.json'))
  predictions = []
  for frame in gt.frames:
    for person in frame.persons:
      predictions.append(evaluation.PosePrediction(frame.file_name, person.keypoints, 1.0,
                                                   track_id=person.track_id))
  return config, predictions


def test_training_table_with_ground_truth_track_ids(tmp_path):
  config, predictions = _training_setup(tmp_path)
  results, tracking, _, written = eval_loop.score_predictions(
      config, {'final': predictions}, str(tmp_path / 'out'))
  assert [p.track_id for p in written['final'][0].frames[1].persons] == [1, 2]
  assert tracking['final'].mota == 100.0 and tracking['final'].num_frames == 3
  table = eval_loop.results_table(results, tracking, SINGLE_FRAME_ROWS).splitlines()
  assert table[3:5] == ['', 'Tracking with the ground-truth track ids (poseval: MOTA per '
                        'joint group, then the totals):']
  assert table[7] == ('| single-frame HRNet | 100.0 |    100.0 | 100.0 | 100.0 | 100.0 | '
                      '100.0 | 100.0 | 100.0 | 100.0 |     100.0 |  100.0 |')
  values = eval_loop.metric_values(results, tracking)
  assert {k: v for k, v in values.items() if '/tracking/' in k} == {
      f'final/tracking/{c}': 100.0 for c in tracking['final'].columns}
  assert values['final/mAP'] == 100.0


def test_training_table_without_track_ids_is_unchanged(tmp_path):
  # Detection boxes carry no track id: the published index-in-frame ids, no tracking.
  config, predictions = _training_setup(tmp_path)
  for p in predictions:
    p.track_id = None
  results, tracking, _, written = eval_loop.score_predictions(
      config, {'final': predictions}, str(tmp_path / 'out'))
  assert tracking == {}
  assert [p.track_id for p in written['final'][0].frames[1].persons] == [0, 1]
  assert eval_loop.results_table(results, tracking, SINGLE_FRAME_ROWS) == evaluation.format_table(
      {'single-frame HRNet': results['final']})
  assert sorted(eval_loop.metric_values(results, tracking)) == sorted(
      [f'final/{c}' for c in results['final'].columns] + ['final/mAP'])


def test_ground_truth_is_read_once_for_every_prediction_set(tmp_path, monkeypatch):
  config, predictions = _training_setup(tmp_path)
  reads = []
  read_video = ptv.read_video

  def counted_read(path, kind=ptv.GROUND_TRUTH):
    reads.append((os.path.basename(path), kind))
    return read_video(path, kind)

  monkeypatch.setattr(ptv, 'read_video', counted_read)
  results, _, _, _ = eval_loop.score_predictions(
      config, {'backbone': predictions, 'final': predictions}, str(tmp_path / 'out'))
  assert reads == [('000342_mpii_test.json', ptv.GROUND_TRUTH),
                   ('000342_mpii_test.json', ptv.PREDICTIONS),
                   ('000342_mpii_test.json', ptv.PREDICTIONS)]
  assert results['backbone'].mean == results['final'].mean == 100.0
  # Read before training (prepare_evaluation), the ground truth is not read again.
  ground_truth = eval_loop.read_val_ground_truth(config)
  reads.clear()
  eval_loop.score_predictions(config, {'final': predictions}, str(tmp_path / 'again'),
                              ground_truth)
  assert reads == [('000342_mpii_test.json', ptv.PREDICTIONS)]
