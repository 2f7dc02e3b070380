"""PoseTrack mAP, computed the way the poseval toolkit computes it.

For every video the ground truth (GT) and the predictions are aligned frame by frame:

1. Clean-up. GT frames without any person are dropped together with the prediction frame at
   the same index. In frames with ignore regions every GT and predicted joint strictly inside
   a polygon is deleted (a person left without joints no longer counts).
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

import collections
import dataclasses
import glob
import logging
import os
from typing import Mapping, Sequence

import numpy as np

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from famipose_jax import config_defaults

_log = logging.getLogger(__name__)

NUM_EVAL_JOINTS = joints.NUM_EVAL_JOINTS
_EVAL_SLOTS = np.array(joints.SLOT_OF_EVAL_JOINT)


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


@dataclasses.dataclass
class _Persons:
  """The persons of one frame as arrays over the 15 evaluation joints."""
  xy: np.ndarray            # [N, 15, 2]
  has: np.ndarray           # [N, 15] bool
  score: np.ndarray         # [N, 15] (predictions) or visibility (GT)
  head_box: list            # N x ([4] or None)

  @classmethod
  def from_frame(cls, frame: ptv.FrameAnnotation) -> _Persons:
    n = len(frame.persons)
    keypoints = np.zeros((n, NUM_EVAL_JOINTS, 3))
    has = np.zeros((n, NUM_EVAL_JOINTS), bool)
    for i, person in enumerate(frame.persons):
      keypoints[i] = person.keypoints[_EVAL_SLOTS]
      has[i] = person.present[_EVAL_SLOTS]
    return cls(keypoints[..., :2], has, keypoints[..., 2], [p.head_box for p in frame.persons])

  def drop_ignored(self, regions: Sequence[np.ndarray]):
    """Delete joints strictly inside any ignore polygon (boundary points are kept)."""
    if not regions or not len(self.has):
      return
    points = self.xy.reshape(-1, 2)
    inside = np.zeros(len(points), bool)
    for polygon in regions:
      inside |= points_in_polygon(points, polygon)
    self.has &= ~inside.reshape(self.has.shape)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
  """Which points lie strictly inside a polygon (even-odd rule; the boundary is outside).

  This is `shapely.Polygon(polygon).contains(Point(p))`, which poseval uses. Polygons with
  fewer than 3 vertices contain nothing.

  Args:
    points: [N, 2] x, y.
    polygon: [P, 2] vertices, open or closed.

  Returns:
    [N] bool.
  """
  points = np.asarray(points, np.float64)
  polygon = np.asarray(polygon, np.float64)
  if len(polygon) < 3:
    return np.zeros(len(points), bool)
  px, py = points[:, :1], points[:, 1:]
  x0, y0 = polygon[:, 0][None], polygon[:, 1][None]
  x1, y1 = np.roll(polygon[:, 0], -1)[None], np.roll(polygon[:, 1], -1)[None]
  # On an edge: collinear with it and within its bounding box.
  cross = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
  on_edge = ((cross == 0) & (px >= np.minimum(x0, x1)) & (px <= np.maximum(x0, x1))
             & (py >= np.minimum(y0, y1)) & (py <= np.maximum(y0, y1)))
  # Crossings of the ray to +x with edges that straddle the point's y (half-open in y).
  straddles = (y0 > py) != (y1 > py)
  with np.errstate(divide='ignore', invalid='ignore'):
    x_at_y = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
  crossings = np.sum(straddles & (px < x_at_y), axis=1)
  return (crossings % 2 == 1) & ~np.any(on_edge, axis=1)


def _head_sizes(gt: _Persons, factor: float, where: str) -> np.ndarray:
  sizes = np.zeros(len(gt.head_box))
  for g, box in enumerate(gt.head_box):
    if box is None:
      if gt.has[g].any():
        raise ValueError(f'{where}: ground-truth person {g} has annotated joints but no head '
                         'box (x1, y1, x2, y2 / bbox_head), which PCKh needs')
      continue
    x1, y1, x2, y2 = box
    sizes[g] = factor * np.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)
  return sizes


def assign_frame(pred: _Persons, gt: _Persons, *, pckh_threshold: float,
                 head_size_factor: float, where: str = 'frame'):
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
  head = _head_sizes(gt, head_size_factor, where)
  diff = pred.xy[:, None] - gt.xy[None]                                   # [P, G, 15, 2]
  with np.errstate(divide='ignore', invalid='ignore'):
    dist = np.sqrt(np.sum(diff * diff, axis=-1)) / head[None, :, None]
  both = pred.has[:, None] & gt.has[None]
  match = both & (dist <= pckh_threshold)                                 # NaN, inf: False
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
  if pckh_threshold is None or head_size_factor is None:
    published = config_defaults.published_config().eval
    pckh_threshold = published.pckh_threshold if pckh_threshold is None else pckh_threshold
    head_size_factor = (published.head_size_factor if head_size_factor is None
                        else head_size_factor)
  if not gt_videos:
    raise ValueError('no ground-truth videos to evaluate')
  if len(gt_videos) != len(pred_videos):
    raise ValueError(f'{len(gt_videos)} ground-truth videos but {len(pred_videos)} prediction '
                     'videos')
  scores = [[] for _ in range(NUM_EVAL_JOINTS)]
  labels = [[] for _ in range(NUM_EVAL_JOINTS)]
  num_gt = np.zeros(NUM_EVAL_JOINTS, np.int64)
  num_frames = 0
  for gt_video, pred_video in zip(gt_videos, pred_videos):
    if gt_video.name != pred_video.name:
      raise ValueError(f'ground-truth video {gt_video.name!r} is paired with prediction video '
                       f'{pred_video.name!r}')
    if len(gt_video.frames) != len(pred_video.frames):
      raise ValueError(f'video {gt_video.name!r}: {len(pred_video.frames)} prediction frames '
                       f'but {len(gt_video.frames)} ground-truth frames')
    for gt_frame, pred_frame in zip(gt_video.frames, pred_video.frames):
      if not gt_frame.persons:
        continue
      num_frames += 1
      gt, pred = _Persons.from_frame(gt_frame), _Persons.from_frame(pred_frame)
      gt.drop_ignored(gt_frame.ignore_regions)
      pred.drop_ignored(gt_frame.ignore_regions)
      where = f'video {gt_video.name!r} frame {gt_frame.frame_index} ({gt_frame.file_name})'
      frame_labels, _ = assign_frame(pred, gt, pckh_threshold=pckh_threshold,
                                     head_size_factor=head_size_factor, where=where)
      for p in range(len(pred.has)):
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


def read_folder_pair(gt_dir: str, pred_dir: str):
  """GT and prediction videos of two folders, paired by file name (GT names, sorted).

  Raises:
    ValueError: the GT folder has no .json file, or a prediction file is missing.
  """
  for role, folder in (('ground-truth', gt_dir), ('prediction', pred_dir)):
    if not os.path.isdir(folder):
      raise ValueError(f'{role} folder {folder!r} does not exist')
  gt_paths = sorted(glob.glob(os.path.join(gt_dir, '*.json')))
  if not gt_paths:
    raise ValueError(f'no ground-truth files (*.json) in {gt_dir!r}')
  missing = [os.path.basename(p) for p in gt_paths
             if not os.path.isfile(os.path.join(pred_dir, os.path.basename(p)))]
  if missing:
    raise ValueError(f'prediction folder {pred_dir!r} has no file for {len(missing)} of the '
                     f'{len(gt_paths)} videos in ground-truth folder {gt_dir!r}, e.g. '
                     f'{missing[0]!r}' + (f' (all: {missing})' if len(missing) <= 10 else ''))
  gt_videos, pred_videos = [], []
  for path in gt_paths:
    pred_path = os.path.join(pred_dir, os.path.basename(path))
    gt_video = ptv.read_video(path, ptv.GROUND_TRUTH)
    pred_video = ptv.read_video(pred_path, ptv.PREDICTIONS)
    if len(gt_video.frames) != len(pred_video.frames):
      raise ValueError(f'{pred_path}: {len(pred_video.frames)} frames but the ground truth '
                       f'{path} has {len(gt_video.frames)}')
    _warn_repeated_track_ids(pred_video, pred_path)
    gt_videos.append(gt_video)
    pred_videos.append(pred_video)
  return gt_videos, pred_videos


def _warn_repeated_track_ids(video: ptv.VideoAnnotation, path: str):
  """poseval refuses frames with repeated track ids; AP does not use them, so only warn."""
  frames = [f.frame_index for f in video.frames
            if any(n > 1 for n in collections.Counter(
                p.track_id for p in f.persons if p.track_id is not None).values())]
  if frames:
    _log.warning('%s: %d frames repeat a track id (first: frame %d); poseval would refuse the '
                 'file, AP is unaffected', path, len(frames), frames[0])


def evaluate_folders(gt_dir: str, pred_dir: str, **settings) -> PoseTrackResult:
  """PoseTrack mAP of a prediction folder against a GT folder (either layout on either side).

  Args:
    gt_dir: one ground-truth JSON per video.
    pred_dir: one prediction JSON per GT file, same name, same number of frames.
    **settings: pckh_threshold, head_size_factor (see `evaluate_videos`).
  """
  return evaluate_videos(*read_folder_pair(gt_dir, pred_dir), **settings)


def format_table(results: PoseTrackResult | Mapping[str, PoseTrackResult],
                 decimals: int = 1) -> str:
  """The Head | Shoulder | ... | Mean table; a mapping gives one labelled row per entry.

  Args:
    results: one result, or e.g. {'backbone': r1, 'final': r2}.
    decimals: digits after the point (poseval prints 1).
  """
  if isinstance(results, PoseTrackResult):
    rows, label_header = {'': results}, None
  else:
    rows, label_header = dict(results), 'Method'
  names = [name for name, _ in joints.TABLE_COLUMNS] + ['Mean']
  label_width = max([len(label_header or '')] + [len(k) for k in rows]) if label_header else 0
  widths = [max(len(n), decimals + 4) for n in names]
  header_cells = [n.rjust(w) for n, w in zip(names, widths)]
  lines = []
  if label_header:
    header_cells.insert(0, label_header.ljust(label_width))
  lines.append('| ' + ' | '.join(header_cells) + ' |')
  lines.append('|' + '|'.join('-' * (len(c) + 2) for c in header_cells) + '|')
  for label, result in rows.items():
    columns = result.columns
    cells = [f'{columns[n]:.{decimals}f}'.rjust(w) for n, w in zip(names, widths)]
    if label_header:
      cells.insert(0, label.ljust(label_width))
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)
