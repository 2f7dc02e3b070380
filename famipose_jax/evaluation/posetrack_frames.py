"""The frames PoseTrack's metrics score: paired videos after poseval's clean-up.

Both the mAP (`posetrack_map`) and the tracking metrics (`posetrack_tracking`) see the same
frames, cleaned up the way the poseval toolkit does it (github.com/leonid-pishchulin/poseval,
poseval/eval_helpers.py: load_data_dir, cleanupData, removeIgnoredPoints):

1. Ground-truth (GT) and prediction files pair up by name (GT names, sorted) and must have the
   same number of frames.
2. GT frames without any person are dropped together with the prediction frame at the same
   index.
3. Persons without a point list are dropped (`PersonAnnotation.has_point_list`).
4. In frames with ignore regions every GT and predicted joint strictly inside a polygon is
   deleted, and a person left without joints is dropped.

Dropping persons without joints changes no AP (they contribute no joint), but it decides
whether a frame is empty for the tracking metrics.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import itertools
import logging
import os
from typing import Iterator, Sequence

import numpy as np

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv
from data_pipeline.errors import UserError
from famipose_jax.config import defaults as config_defaults

_log = logging.getLogger(__name__)

NUM_EVAL_JOINTS = joints.NUM_EVAL_JOINTS
_EVAL_SLOTS = np.array(joints.SLOT_OF_EVAL_JOINT)


class EvaluationInputError(UserError, ValueError):
  """Ground truth and predictions that cannot be scored together (the message says why)."""


@dataclasses.dataclass
class Persons:
  """The persons of one frame as arrays over the 15 evaluation joints (poseval's order).

  Attributes:
    xy: [N, 15, 2] joint coordinates.
    has: [N, 15] bool, the joint is listed (annotated GT joint, predicted joint).
    score: [N, 15] joint score (predictions) or visibility flag (GT).
    head_box: N x ([4] x1, y1, x2, y2, or None).
    track_id: N x (int or None).
  """
  xy: np.ndarray
  has: np.ndarray
  score: np.ndarray
  head_box: list
  track_id: list

  @classmethod
  def from_frame(cls, frame: ptv.FrameAnnotation) -> Persons:
    n = len(frame.persons)
    keypoints = np.zeros((n, NUM_EVAL_JOINTS, 3))
    has = np.zeros((n, NUM_EVAL_JOINTS), bool)
    for i, person in enumerate(frame.persons):
      keypoints[i] = person.keypoints[_EVAL_SLOTS]
      has[i] = person.present[_EVAL_SLOTS]
    return cls(keypoints[..., :2], has, keypoints[..., 2], [p.head_box for p in frame.persons],
               [p.track_id for p in frame.persons])

  def __len__(self) -> int:
    return len(self.has)

  def drop_ignored(self, regions: Sequence[np.ndarray]):
    """Delete joints strictly inside any ignore polygon (boundary points are kept)."""
    if not regions or not len(self.has):
      return
    points = self.xy.reshape(-1, 2)
    inside = np.zeros(len(points), bool)
    for polygon in regions:
      inside |= points_in_polygon(points, polygon)
    self.has &= ~inside.reshape(self.has.shape)

  def select(self, keep: np.ndarray) -> Persons:
    """The persons where `keep` [N] is True, in their order."""
    index = np.flatnonzero(keep)
    return Persons(self.xy[index], self.has[index], self.score[index],
                   [self.head_box[i] for i in index], [self.track_id[i] for i in index])


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


def pckh_settings(pckh_threshold: float | None, head_size_factor: float | None):
  """(threshold, head size factor), each None taken from the published config (0.5, 0.6)."""
  published = config_defaults.published_config().eval
  return (published.pckh_threshold if pckh_threshold is None else pckh_threshold,
          published.head_size_factor if head_size_factor is None else head_size_factor)


def _head_sizes(gt: Persons, factor: float, where: str) -> np.ndarray:
  sizes = np.zeros(len(gt))
  for g, box in enumerate(gt.head_box):
    if box is None:
      if gt.has[g].any():
        raise EvaluationInputError(
            f'{where}: ground-truth person {g} has annotated joints but no head '
            'box (x1, y1, x2, y2 / bbox_head), which PCKh needs')
      continue
    x1, y1, x2, y2 = box
    sizes[g] = factor * np.sqrt((x2 - x1) ** 2 + (y2 - y1) ** 2)
  return sizes


def joint_distances(pred: Persons, gt: Persons, *, head_size_factor: float,
                    where: str = 'frame') -> np.ndarray:
  """Head-size-normalised joint distances, [P, G, 15].

  Head size = `head_size_factor` x the diagonal of the GT head box. A joint missing on either
  side is at distance inf; a zero head size gives inf or NaN. Either way it never matches.

  Raises:
    ValueError: a GT person with annotated joints has no head box.
  """
  head = _head_sizes(gt, head_size_factor, where)
  diff = pred.xy[:, None] - gt.xy[None]                                   # [P, G, 15, 2]
  with np.errstate(divide='ignore', invalid='ignore'):
    dist = np.sqrt(np.sum(diff * diff, axis=-1)) / head[None, :, None]
  return np.where(pred.has[:, None] & gt.has[None], dist, np.inf)


@dataclasses.dataclass
class FramePair:
  """One scored frame: GT and predicted persons after the clean-up.

  Attributes:
    video: index of the video in the list evaluated.
    gt: the GT persons.
    pred: the predicted persons.
    where: 'video ... frame ... (file name)', for error messages.
  """
  video: int
  gt: Persons
  pred: Persons
  where: str


def _cleaned(frame: ptv.FrameAnnotation, regions: Sequence[np.ndarray]) -> Persons:
  persons = Persons.from_frame(frame)
  persons.drop_ignored(regions)
  keep = np.array([p.has_point_list for p in frame.persons], bool)
  if regions:
    keep &= persons.has.any(axis=1)
  return persons.select(keep)


def paired_frames(gt_videos: Sequence[ptv.VideoAnnotation],
                  pred_videos: Sequence[ptv.VideoAnnotation]) -> Iterator[FramePair]:
  """Every scored frame, video by video, in file order (steps 2-4 of the module docstring).

  Raises:
    ValueError: when the videos do not pair up (count, names, frame counts) or there are none.
  """
  if not gt_videos:
    raise EvaluationInputError('no ground-truth videos to evaluate')
  if len(gt_videos) != len(pred_videos):
    raise EvaluationInputError(
        f'{len(gt_videos)} ground-truth videos but {len(pred_videos)} prediction '
        'videos')
  for v, (gt_video, pred_video) in enumerate(zip(gt_videos, pred_videos)):
    if gt_video.name != pred_video.name:
      raise EvaluationInputError(
          f'ground-truth video {gt_video.name!r} is paired with prediction video '
          f'{pred_video.name!r}')
    if len(gt_video.frames) != len(pred_video.frames):
      raise EvaluationInputError(
          f'video {gt_video.name!r}: {len(pred_video.frames)} prediction frames '
          f'but {len(gt_video.frames)} ground-truth frames')
    for gt_frame, pred_frame in zip(gt_video.frames, pred_video.frames):
      if not gt_frame.persons:
        continue
      regions = gt_frame.ignore_regions
      yield FramePair(
          video=v, gt=_cleaned(gt_frame, regions), pred=_cleaned(pred_frame, regions),
          where=f'video {gt_video.name!r} frame {gt_frame.frame_index} ({gt_frame.file_name})')


def frames_by_video(gt_videos: Sequence[ptv.VideoAnnotation],
                    pred_videos: Sequence[ptv.VideoAnnotation]) -> Iterator[list[FramePair]]:
  """`paired_frames` grouped into one list per video; videos without a scored frame are left out."""
  for _, frames in itertools.groupby(paired_frames(gt_videos, pred_videos),
                                     key=lambda f: f.video):
    yield list(frames)


@dataclasses.dataclass(frozen=True)
class GroundTruth:
  """A ground-truth folder read once: its JSON files (sorted by name) and their videos.

  Training evaluates many times and scores several prediction sets each time against the same
  files; they are read once and shared (the videos are not modified by scoring).
  """
  folder: str
  paths: tuple[str, ...]
  videos: tuple[ptv.VideoAnnotation, ...]


def read_ground_truth(gt_dir: str) -> GroundTruth:
  """Every `*.json` of a ground-truth folder, read.

  Raises:
    EvaluationInputError: the folder is missing or has no .json file; ValueError (from the
      reader, naming the file and field) for a malformed file.
  """
  if not os.path.isdir(gt_dir):
    raise EvaluationInputError(f'ground-truth folder {gt_dir!r} does not exist')
  paths = tuple(sorted(glob.glob(os.path.join(gt_dir, '*.json'))))
  if not paths:
    raise EvaluationInputError(f'no ground-truth files (*.json) in {gt_dir!r}')
  return GroundTruth(gt_dir, paths, tuple(ptv.read_video(p, ptv.GROUND_TRUTH) for p in paths))


def read_folder_pair(gt: str | GroundTruth, pred_dir: str):
  """GT and prediction videos of two folders, paired by file name (GT names, sorted).

  Args:
    gt: the ground-truth folder, or its files already read (`read_ground_truth`).
    pred_dir: one prediction JSON per GT file, same name, same number of frames.

  Returns:
    (gt videos, prediction videos).

  Raises:
    ValueError: a folder is missing, the GT folder has no .json file, a prediction file is
      missing or has a different number of frames.
  """
  for role, folder in (('ground-truth', gt), ('prediction', pred_dir)):
    if isinstance(folder, str) and not os.path.isdir(folder):
      raise EvaluationInputError(f'{role} folder {folder!r} does not exist')
  ground_truth = gt if isinstance(gt, GroundTruth) else read_ground_truth(gt)
  missing = [os.path.basename(p) for p in ground_truth.paths
             if not os.path.isfile(os.path.join(pred_dir, os.path.basename(p)))]
  if missing:
    raise EvaluationInputError(
        f'prediction folder {pred_dir!r} has no file for {len(missing)} of the '
        f'{len(ground_truth.paths)} videos in ground-truth folder {ground_truth.folder!r}, '
        f'e.g. {missing[0]!r}' + (f' (all: {missing})' if len(missing) <= 10 else ''))
  pred_videos = []
  for path, gt_video in zip(ground_truth.paths, ground_truth.videos):
    pred_path = os.path.join(pred_dir, os.path.basename(path))
    pred_video = ptv.read_video(pred_path, ptv.PREDICTIONS)
    if len(gt_video.frames) != len(pred_video.frames):
      raise EvaluationInputError(
          f'{pred_path}: {len(pred_video.frames)} frames but the ground truth '
          f'{path} has {len(gt_video.frames)}')
    _warn_repeated_track_ids(pred_video, pred_path, gt_video)
    pred_videos.append(pred_video)
  return list(ground_truth.videos), pred_videos


def repeated_track_id(frame: ptv.FrameAnnotation) -> int | None:
  """A track id that two persons of the frame share, or None."""
  counts = collections.Counter(p.track_id for p in frame.persons if p.track_id is not None)
  return next((track for track, n in counts.items() if n > 1), None)


def _warn_repeated_track_ids(video: ptv.VideoAnnotation, path: str, gt_video: ptv.VideoAnnotation):
  """poseval refuses files with repeated track ids; AP does not use them, so only warn.

  In a frame with a ground-truth person the tracking metrics refuse the repeat too; other
  frames are scored by no metric.
  """
  repeats = [(f.frame_index, bool(gt.persons)) for f, gt in zip(video.frames, gt_video.frames)
             if repeated_track_id(f) is not None]
  scored = [index for index, labelled in repeats if labelled]
  unscored = [index for index, labelled in repeats if not labelled]
  if scored:
    _log.warning('%s: %d annotated frames repeat a track id (first: frame %d): AP is '
                 'unaffected, the tracking metrics refuse the file (as poseval does)', path,
                 len(scored), scored[0])
  if unscored:
    _log.warning('%s: %d frames without ground-truth persons repeat a track id (first: frame '
                 '%d): no metric scores these frames, so neither AP nor tracking is affected '
                 '(poseval would refuse the file)',
                 path, len(unscored), unscored[0])
