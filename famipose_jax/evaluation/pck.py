"""PCK for Sub-JHMDB-style data: a joint is correct within `threshold` x max(box w, h).

As in the published Sub-JHMDB protocol (and mmpose's `keypoint_pck_accuracy`): the distance is
normalised by the larger side of the ground-truth box, a joint counts when the normalised
distance is strictly below the threshold, only visible joints of samples with a non-empty box
are scored, and the mean is the mean of the per-joint accuracies over joints that were scored.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class PCKResult:
  """per_joint [K] PCK x 100 (NaN where no joint was scored); counts [K]; mean x 100."""
  per_joint: np.ndarray
  counts: np.ndarray
  mean: float


def compute_pck(pred_xy, gt_xy, visible, boxes_xywh, *, threshold: float) -> PCKResult:
  """PCK@threshold normalised by max(box w, h).

  Args:
    pred_xy: [N, K, 2] predicted joints.
    gt_xy: [N, K, 2] ground-truth joints.
    visible: [N, K] which ground-truth joints are scored.
    boxes_xywh: [N, 4] ground-truth boxes (x, y, w, h).
    threshold: 0.2 for Sub-JHMDB (config eval.pck_threshold).

  Returns:
    The result.
  """
  pred_xy = np.asarray(pred_xy, np.float64)
  gt_xy = np.asarray(gt_xy, np.float64)
  boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
  if pred_xy.shape != gt_xy.shape or pred_xy.shape[-1] != 2:
    raise ValueError(f'predictions {pred_xy.shape} and ground truth {gt_xy.shape} must both '
                     'be [N, K, 2]')
  normaliser = np.max(boxes[:, 2:], axis=1)
  scored = np.asarray(visible, bool) & (normaliser > 0)[:, None]
  with np.errstate(divide='ignore', invalid='ignore'):
    distance = np.linalg.norm(pred_xy - gt_xy, axis=-1) / normaliser[:, None]
  correct = scored & (distance < threshold)
  counts = scored.sum(axis=0)
  with np.errstate(divide='ignore', invalid='ignore'):
    per_joint = np.where(counts > 0, correct.sum(axis=0) / counts, np.nan) * 100
  valid = per_joint[counts > 0]
  return PCKResult(per_joint=per_joint, counts=counts,
                   mean=float(valid.mean()) if valid.size else 0.0)
