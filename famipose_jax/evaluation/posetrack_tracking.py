"""PoseTrack's tracking metrics (MOTA, MOTP, precision, recall), computed as poseval does.

PoseTrack (Andriluka et al., "PoseTrack: A Benchmark for Human Pose Estimation and Tracking",
CVPR 2018) scores pose tracking with the CLEAR MOT metrics (Bernardin and Stiefelhagen, 2008)
applied to every body joint on its own. This module reproduces the poseval toolkit
(github.com/leonid-pishchulin/poseval, poseval/evaluateTracking.py and the `motAll` part of
eval_helpers.assignGTmulti) and hands the same per-frame input to the same accumulator,
py-motmetrics' `MOTAccumulator`, so matching and switch counting are identical.

On the frames of `posetrack_frames` (the clean-up shared with mAP), per video and per joint j:

1. The video's last scored frame is dropped (poseval scores each sequence's frames[:-1]); a
   video with a single scored frame contributes nothing.
2. Every other frame is one accumulator update. Objects: the track ids of the GT persons that
   have joint j. Hypotheses: the track ids of the predicted persons that have joint j. A pair
   can match when its head-size-normalised joint distance is <= `pckh_threshold` (0.5), at
   that distance. mAP's PCKh person assignment plays no part.
3. A frame where the GT or the predictions have no person left gets, for every joint, one
   phantom object and one phantom hypothesis (poseval's id 0) that never match: 1 miss,
   1 false positive and 1 object, however many persons the other side has.
4. Joint scores are ignored: every listed predicted joint is a hypothesis.

Summed over the videos, per joint:

  MOTA = 100 (1 - (misses + switches + false positives) / objects), NaN without objects;
  MOTP = 100 (1 - sum_distance / detections), 0 without detections;
  precision = 100 detections / (detections + false positives), NaN when both are 0;
  recall = 100 detections / objects, NaN without objects;

with detections = matches + switches and sum_distance = the sum of the 'D' column of all the
accumulator's events. Since py-motmetrics 1.2 those events include a RAW event for every
pair that could match (matched or not) and the TRANSFER/ASCEND/MIGRATE events besides
MATCH/SWITCH, so poseval's MOTP is not CLEAR-MOT's (`sum_match_distance` gives that one).
Each total is the mean of the joints' values that are not NaN.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax.evaluation import posetrack_frames

NUM_EVAL_JOINTS = joints.NUM_EVAL_JOINTS
# poseval's id for both phantoms of an empty frame. A real track 0 in the same video cannot be
# disturbed: a phantom pair is never matched, so it changes no pairing and no switch.
PHANTOM_ID = 0


def _total(values: np.ndarray) -> float:
  """poseval's total: the mean of the joint values that are not NaN."""
  valid = values[~np.isnan(values)]
  return float(valid.mean()) if valid.size else float('nan')


@dataclasses.dataclass(frozen=True)
class PoseTrackingResult:
  """Per-joint tracking metrics in poseval's joint order, their totals and the table.

  Attributes:
    joint_mota: [15] MOTA x 100 per joint (0 r_ankle ... 14 head_top); NaN without objects.
    joint_motp: [15] poseval's MOTP x 100 (module docstring); 0 without detections.
    joint_precision: [15] precision x 100; NaN without detections and false positives.
    joint_recall: [15] recall x 100; NaN without objects.
    num_objects: [15] GT joints scored (phantoms included).
    num_misses: [15] objects left unmatched.
    num_switches: [15] matches to another track than the object's previous match.
    num_false_positives: [15] hypotheses left unmatched.
    num_detections: [15] matches + switches.
    sum_distance: [15] poseval's distance sum (all events, RAW ones included).
    sum_match_distance: [15] distance sum over the matches and switches only.
    num_videos: videos with at least one frame scored.
    num_frames: frames scored (each video's last scored frame left out).
  """
  joint_mota: np.ndarray
  joint_motp: np.ndarray
  joint_precision: np.ndarray
  joint_recall: np.ndarray
  num_objects: np.ndarray
  num_misses: np.ndarray
  num_switches: np.ndarray
  num_false_positives: np.ndarray
  num_detections: np.ndarray
  sum_distance: np.ndarray
  sum_match_distance: np.ndarray
  num_videos: int
  num_frames: int

  @property
  def mota(self) -> float:
    return _total(self.joint_mota)

  @property
  def motp(self) -> float:
    return _total(self.joint_motp)

  @property
  def precision(self) -> float:
    return _total(self.joint_precision)

  @property
  def recall(self) -> float:
    return _total(self.joint_recall)

  @property
  def columns(self) -> dict[str, float]:
    """poseval's MOT table: MOTA of Head ... Ankle (means of their joints), then the totals."""
    table = {name: float(self.joint_mota[list(ids)].mean()) for name, ids in joints.TABLE_COLUMNS}
    table.update(MOTA=self.mota, MOTP=self.motp, Precision=self.precision, Recall=self.recall)
    return table

  def per_joint(self) -> dict[str, float]:
    return {name: float(v) for name, v in zip(joints.EVAL_JOINT_NAMES, self.joint_mota)}


def carries_track_ids(videos: Sequence[ptv.VideoAnnotation]) -> bool:
  """Whether the videos list at least one person and every person has a track id."""
  persons = [p for video in videos for frame in video.frames for p in frame.persons]
  return bool(persons) and all(p.track_id is not None for p in persons)


def _labelled_frames(gt_videos, pred_videos):
  """(where, {role: frame}) of the frames the metrics score: those with a GT person."""
  for gt_video, pred_video in zip(gt_videos, pred_videos):
    for gt_frame, pred_frame in zip(gt_video.frames, pred_video.frames):
      if gt_frame.persons:
        where = f'video {gt_video.name!r} frame {gt_frame.frame_index} ({gt_frame.file_name})'
        yield where, {'ground-truth': gt_frame, 'predicted': pred_frame}


def persons_without_track_id(gt_videos, pred_videos) -> dict[str, tuple[int, int]]:
  """{'ground-truth' / 'predicted': (persons without a track id, persons)}.

  Only the persons the tracking metrics score count: those with a point list in frames with a
  ground-truth person. `evaluate_tracking` refuses a count other than 0.
  """
  counts = {'ground-truth': [0, 0], 'predicted': [0, 0]}
  for _, frames in _labelled_frames(gt_videos, pred_videos):
    for role, frame in frames.items():
      scored = [p for p in frame.persons if p.has_point_list]
      counts[role][0] += sum(p.track_id is None for p in scored)
      counts[role][1] += len(scored)
  return {role: (missing, total) for role, (missing, total) in counts.items()}


def _check_track_ids(gt_videos, pred_videos):
  """Every scored person needs a track id, unique in its frame (poseval refuses repeats)."""
  for where, frames in _labelled_frames(gt_videos, pred_videos):
    for role, frame in frames.items():
      for p, person in enumerate(frame.persons):
        if person.track_id is None and person.has_point_list:
          raise posetrack_frames.EvaluationInputError(
              f'{where}: {role} person {p} has no track_id; the tracking '
              'metrics need one on every person')
      repeated = posetrack_frames.repeated_track_id(frame)
      if repeated is not None:
        raise posetrack_frames.EvaluationInputError(
            f'{where}: two {role} persons have track_id {repeated}; the '
            'tracking metrics need distinct ids within a frame')


def _joint_updates(frame: posetrack_frames.FramePair, pckh_threshold: float,
                   head_size_factor: float) -> list[tuple[list, list, np.ndarray]]:
  """(object ids, hypothesis ids, [objects, hypotheses] distances) for each joint.

  A NaN distance forbids the pair, as py-motmetrics reads it.
  """
  gt, pred = frame.gt, frame.pred
  if not len(gt) or not len(pred):
    phantom = ([PHANTOM_ID], [PHANTOM_ID], np.full((1, 1), np.nan))
    return [phantom] * NUM_EVAL_JOINTS
  dist = posetrack_frames.joint_distances(pred, gt, head_size_factor=head_size_factor,
                                          where=frame.where)
  dist = np.where(dist <= pckh_threshold, dist, np.nan)                   # [P, G, 15]
  updates = []
  for j in range(NUM_EVAL_JOINTS):
    objects, hypotheses = np.flatnonzero(gt.has[:, j]), np.flatnonzero(pred.has[:, j])
    updates.append(([gt.track_id[g] for g in objects],
                    [pred.track_id[p] for p in hypotheses],
                    dist[np.ix_(hypotheses, objects, [j])][..., 0].T))
  return updates


_COUNTS = ('objects', 'misses', 'switches', 'false_positives', 'detections', 'sum_distance',
           'sum_match_distance')


def _video_counts(frames: list[posetrack_frames.FramePair], pckh_threshold: float,
                  head_size_factor: float) -> dict[str, np.ndarray]:
  """The event counts of one video, per joint: {name in _COUNTS: [15]}."""
  import motmetrics  # pylint: disable=g-import-not-at-top (pandas: only when scoring tracks)
  accumulators = [motmetrics.MOTAccumulator(auto_id=True) for _ in range(NUM_EVAL_JOINTS)]
  for frame in frames:
    updates = _joint_updates(frame, pckh_threshold, head_size_factor)
    for accumulator, (objects, hypotheses, dist) in zip(accumulators, updates):
      accumulator.update(objects, hypotheses, dist)
  counts = {name: np.zeros(NUM_EVAL_JOINTS) for name in _COUNTS}
  for j, accumulator in enumerate(accumulators):
    events = accumulator.events
    kind = events['Type']
    matched = kind.isin(['MATCH', 'SWITCH'])
    # As py-motmetrics' num_* metrics: objects are the MATCH, SWITCH and MISS events.
    counts['misses'][j] = (kind == 'MISS').sum()
    counts['switches'][j] = (kind == 'SWITCH').sum()
    counts['false_positives'][j] = (kind == 'FP').sum()
    counts['detections'][j] = matched.sum()
    counts['objects'][j] = counts['detections'][j] + counts['misses'][j]
    total = events['D'].sum()      # poseval's sum: every event, RAW ones included
    counts['sum_distance'][j] = 0.0 if np.isnan(total) else total
    counts['sum_match_distance'][j] = events['D'][matched].sum()
  return counts


def evaluate_tracking(gt_videos: Sequence[ptv.VideoAnnotation],
                      pred_videos: Sequence[ptv.VideoAnnotation], *,
                      pckh_threshold: float | None = None,
                      head_size_factor: float | None = None) -> PoseTrackingResult:
  """PoseTrack's tracking metrics of in-memory videos.

  Args:
    gt_videos: ground truth with track ids, one per video (read with kind='ground_truth').
    pred_videos: predictions with track ids, same order, names and frame counts.
    pckh_threshold: None: config eval.pckh_threshold (0.5, poseval's distThresh).
    head_size_factor: None: config eval.head_size_factor (0.6).

  Returns:
    The result.

  Raises:
    ValueError: the videos do not pair up, a scored person has no track id, two persons of a
      scored frame share one, or a GT person with annotated joints has no head box.
  """
  pckh_threshold, head_size_factor = posetrack_frames.pckh_settings(pckh_threshold,
                                                                    head_size_factor)
  frames_of_videos = list(posetrack_frames.frames_by_video(gt_videos, pred_videos))
  _check_track_ids(gt_videos, pred_videos)
  counts = {name: np.zeros(NUM_EVAL_JOINTS) for name in _COUNTS}
  num_videos = num_frames = 0
  for frames in frames_of_videos:
    scored = frames[:-1]                     # poseval leaves out each video's last frame
    if not scored:
      continue
    num_videos += 1
    num_frames += len(scored)
    for name, values in _video_counts(scored, pckh_threshold, head_size_factor).items():
      counts[name] += values
  return _result(counts, num_videos, num_frames)


def _result(counts: dict[str, np.ndarray], num_videos: int,
            num_frames: int) -> PoseTrackingResult:
  """The metrics from the summed counts, with poseval's rules for empty denominators."""
  objects = np.where(counts['objects'] > 0, counts['objects'], np.nan)
  detections, false_positives = counts['detections'], counts['false_positives']
  emitted = np.where(detections + false_positives > 0, detections + false_positives, np.nan)
  with np.errstate(divide='ignore', invalid='ignore'):
    mota = 100 * (1. - (counts['misses'] + counts['switches'] + false_positives) / objects)
    motp = np.where(detections == 0, 0.0, 100 * (1. - counts['sum_distance'] / detections))
  as_int = {name: counts[name].astype(np.int64)
            for name in ('objects', 'misses', 'switches', 'false_positives', 'detections')}
  return PoseTrackingResult(
      joint_mota=mota, joint_motp=motp, joint_precision=100 * (detections / emitted),
      joint_recall=100 * (detections / objects), num_objects=as_int['objects'],
      num_misses=as_int['misses'], num_switches=as_int['switches'],
      num_false_positives=as_int['false_positives'], num_detections=as_int['detections'],
      sum_distance=counts['sum_distance'], sum_match_distance=counts['sum_match_distance'],
      num_videos=num_videos, num_frames=num_frames)


def evaluate_tracking_folders(gt_dir: str, pred_dir: str, **settings) -> PoseTrackingResult:
  """Tracking metrics of a prediction folder against a GT folder (either layout on either side).

  Args:
    gt_dir: one ground-truth JSON per video.
    pred_dir: one prediction JSON per GT file, same name, same number of frames.
    **settings: pckh_threshold, head_size_factor (see `evaluate_tracking`).
  """
  return evaluate_tracking(*posetrack_frames.read_folder_pair(gt_dir, pred_dir), **settings)
