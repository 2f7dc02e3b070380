"""PoseTrack mAP, computed the way the poseval toolkit computes it.

For every video the ground truth (GT) and the predictions are aligned frame by frame:

1. Clean-up, shared with the tracking metrics (`posetrack_frames`): GT frames without any
   person are dropped together with the prediction frame at the same index. In frames with
   ignore regions every GT and predicted joint strictly inside a polygon is deleted (a person
   left without joints no longer counts).
2. Per frame, PCKh[p, g] = the fraction of GT person g's annotated joints that prediction p
   has within `pckh_threshold` x head size, head size = `head_size_factor` x the diagonal of
   g's head box. Step 1: each prediction keeps only its best GT (row argmax, the rest set to
   0). Step 2: each GT takes the prediction with the highest remaining PCKh (column argmax);
   0 means unmatched. Ties go to the lowest index.
3. Every predicted joint contributes (score, label): label 1 iff its person is assigned to a GT
   and the joint lies within the threshold of the same GT joint. nGT[j] counts the GT joints.
4. Per joint, AP = the area under the precision/recall curve, precision made monotone from the
   right, x 100; a joint without predictions has AP 0, one with predictions but no GT joint
   has AP NaN and is left out of the mean (all as poseval).

Scores are ranked with numpy's default argsort of the concatenated scores, reversed, with the
lists built in poseval's order (joint, then frame, then prediction), so ties break alike for the
same file order. Files are taken in name order (poseval takes `glob` order).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax.evaluation import posetrack_frames

NUM_EVAL_JOINTS = joints.NUM_EVAL_JOINTS


@dataclasses.dataclass(frozen=True)
class PoseTrackResult:
  """Per-joint AP in poseval's joint order and the table built from it.

  Attributes:
    joint_ap: [15] AP x 100 per poseval joint (0 r_ankle ... 14 head_top); NaN where a joint
      has predictions but no GT.
    joint_precision: [15] precision x 100 at the lowest score (poseval's 'pre').
    joint_recall: [15] recall x 100 at the lowest score (poseval's 'rec').
    num_gt_joints: [15] annotated GT joints after clean-up.
    num_predicted_joints: [15] predicted joints after clean-up.
    num_videos: videos evaluated.
    num_frames: frames evaluated (GT frames with at least one person).
  """
  joint_ap: np.ndarray
  joint_precision: np.ndarray
  joint_recall: np.ndarray
  num_gt_joints: np.ndarray
  num_predicted_joints: np.ndarray
  num_videos: int
  num_frames: int

  @property
  def mean(self) -> float:
    """The "Total": mean of the joint APs that are not NaN (not the mean of the columns)."""
    valid = self.joint_ap[~np.isnan(self.joint_ap)]
    return float(valid.mean()) if valid.size else float('nan')

  @property
  def columns(self) -> dict[str, float]:
    """Head, Shoulder, Elbow, Wrist, Hip, Knee, Ankle (means of their joints) and Mean."""
    table = {name: float(self.joint_ap[list(ids)].mean()) for name, ids in joints.TABLE_COLUMNS}
    table['Mean'] = self.mean
    return table

  def per_joint(self) -> dict[str, float]:
    return {name: float(ap) for name, ap in zip(joints.EVAL_JOINT_NAMES, self.joint_ap)}


def assign_frame(pred: posetrack_frames.Persons, gt: posetrack_frames.Persons, *,
                 pckh_threshold: float, head_size_factor: float, where: str = 'frame'):
  """The two-step PCKh assignment of one frame.

  Returns:
    labels [P, 15] bool: joint j of prediction p is a true positive; pred_to_gt [P] int, the
    assigned GT index or -1.
  """
  num_pred, num_gt = len(pred.has), len(gt.has)
  labels = np.zeros((num_pred, NUM_EVAL_JOINTS), bool)
  pred_to_gt = np.full(num_pred, -1)
  if not num_pred or not num_gt:
    return labels, pred_to_gt
  dist = posetrack_frames.joint_distances(pred, gt, head_size_factor=head_size_factor,
                                         where=where)
  match = dist <= pckh_threshold                                          # NaN, inf: False
  num_annotated = gt.has.sum(axis=1)
  pck = match.sum(axis=2) / np.maximum(num_annotated, 1)[None]            # [P, G]
  # Step 1: each prediction keeps only its best GT.
  best_gt = np.argmax(pck, axis=1)
  keep = np.zeros_like(pck, bool)
  keep[np.arange(num_pred), best_gt] = True
  pck = np.where(keep, pck, 0.0)
  # Step 2: each GT takes its best remaining prediction; 0 means none.
  best_pred = np.argmax(pck, axis=0)
  gt_to_pred = np.where(pck.max(axis=0) > 0, best_pred, -1)
  for g, p in enumerate(gt_to_pred):
    if p >= 0:
      pred_to_gt[p] = g
      labels[p] = match[p, g]
  return labels, pred_to_gt


def compute_ap(scores: np.ndarray, labels: np.ndarray, num_gt: float):
  """All-point interpolated AP x 100 of one joint, with the final precision and recall x 100.

  Args:
    scores: [N] scores of the predicted joints.
    labels: [N] 1 for true positives.
    num_gt: number of GT joints.

  Returns:
    (ap, precision, recall); (0, 0, 0) when there is no prediction.
  """
  if not len(scores):
    return 0.0, 0.0, 0.0
  order = np.asarray(scores, np.float64).argsort()[::-1]
  true_positives = np.cumsum(np.asarray(labels)[order] == 1)
  with np.errstate(divide='ignore', invalid='ignore'):
    recall = true_positives / np.float64(num_gt)
  precision = true_positives / np.arange(1, len(order) + 1, dtype=np.float64)
  padded_recall = np.concatenate([[0.0], recall, [1.0]])
  padded_precision = np.concatenate([[0.0], precision, [0.0]])
  padded_precision = np.maximum.accumulate(padded_precision[::-1])[::-1]
  steps = np.flatnonzero(padded_recall[1:] != padded_recall[:-1]) + 1
  ap = np.sum((padded_recall[steps] - padded_recall[steps - 1]) * padded_precision[steps])
  return float(ap * 100), float(precision[-1] * 100), float(recall[-1] * 100)


def evaluate_videos(gt_videos: Sequence[ptv.VideoAnnotation],
                    pred_videos: Sequence[ptv.VideoAnnotation], *,
                    pckh_threshold: float | None = None,
                    head_size_factor: float | None = None) -> PoseTrackResult:
  """PoseTrack mAP of in-memory videos (the trainer's entry point).

  Args:
    gt_videos: ground truth, one per video (read with kind='ground_truth').
    pred_videos: predictions in the same order, same names and frame counts (third keypoint
      value = joint score).
    pckh_threshold: None: config eval.pckh_threshold (0.5).
    head_size_factor: None: config eval.head_size_factor (0.6).

  Returns:
    The result.

  Raises:
    ValueError: when the videos do not pair up (count, names, frame counts) or there are none.
  """
  pckh_threshold, head_size_factor = posetrack_frames.pckh_settings(pckh_threshold,
                                                                    head_size_factor)
  scores = [[] for _ in range(NUM_EVAL_JOINTS)]
  labels = [[] for _ in range(NUM_EVAL_JOINTS)]
  num_gt = np.zeros(NUM_EVAL_JOINTS, np.int64)
  num_frames = 0
  for frame in posetrack_frames.paired_frames(gt_videos, pred_videos):
    num_frames += 1
    gt, pred = frame.gt, frame.pred
    frame_labels, _ = assign_frame(pred, gt, pckh_threshold=pckh_threshold,
                                   head_size_factor=head_size_factor, where=frame.where)
    for p in range(len(pred)):
      for j in np.flatnonzero(pred.has[p]):
        scores[j].append(pred.score[p, j])
        labels[j].append(frame_labels[p, j])
    num_gt += gt.has.sum(axis=0)

  metrics = np.array([compute_ap(np.array(scores[j], np.float64), np.array(labels[j], np.int8),
                                 num_gt[j]) for j in range(NUM_EVAL_JOINTS)])
  return PoseTrackResult(
      joint_ap=metrics[:, 0], joint_precision=metrics[:, 1], joint_recall=metrics[:, 2],
      num_gt_joints=num_gt, num_predicted_joints=np.array([len(s) for s in scores]),
      num_videos=len(gt_videos), num_frames=num_frames)


def evaluate_folders(gt_dir: str, pred_dir: str, **settings) -> PoseTrackResult:
  """PoseTrack mAP of a prediction folder against a GT folder (either layout on either side).

  Args:
    gt_dir: one ground-truth JSON per video.
    pred_dir: one prediction JSON per GT file, same name, same number of frames.
    **settings: pckh_threshold, head_size_factor (see `evaluate_videos`).
  """
  return evaluate_videos(*posetrack_frames.read_folder_pair(gt_dir, pred_dir), **settings)
