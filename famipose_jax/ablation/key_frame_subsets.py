"""PoseTrack mAP on the degraded key frames and on the clean ones, from a run's prediction files.

The ablation data's manifest lists every degraded frame (data_pipeline.synthetic,
`degraded_frames`). Scoring a subset keeps the ground truth of its frames and empties the
others (an empty ground-truth frame is not scored), so each subset is scored by the same
evaluator, with the same predictions, as the whole split.
"""

from __future__ import annotations

import dataclasses
import json
import os

from data_pipeline.synthetic import writer
from famipose_jax import evaluation

SUBSETS = ('degraded', 'clean')


def degraded_frames(data_root: str, split: str = 'val') -> dict[str, dict[int, str]]:
  """{video name: {degraded frame index: its degradation}} from the manifest at `data_root`."""
  path = os.path.join(data_root, writer.MANIFEST)
  with open(path, encoding='utf-8') as f:
    manifest = json.load(f)
  if 'degraded_frames' not in manifest:
    raise ValueError(f'{path}: no degraded_frames (the dataset was generated with '
                     'degraded_frame_share=0); the ablation data has them')
  return {video: {int(t): kind for t, kind in frames.items()}
          for video, frames in manifest['degraded_frames'][split].items()}


def _only(gt_videos, keep) -> list:
  """The ground-truth videos with every frame for which keep(video, frame) is false emptied."""
  return [dataclasses.replace(video, frames=[
      frame if keep(video.name, frame.frame_index) else dataclasses.replace(frame, persons=[])
      for frame in video.frames]) for video in gt_videos]


def subset_results(gt_dir: str, prediction_dir: str, degraded: dict[str, dict[int, str]],
                   **settings) -> dict[str, evaluation.PoseTrackResult]:
  """{'degraded': result, 'clean': result}: the mAP of `prediction_dir` on each subset."""
  gt_videos, pred_videos = evaluation.read_folder_pair(gt_dir, prediction_dir)
  missing = sorted({v.name for v in gt_videos} - set(degraded))
  if missing:
    raise ValueError(f'{gt_dir}: videos {missing} are not in the manifest\'s degraded_frames')
  is_degraded = lambda video, t: t in degraded[video]
  return {
      'degraded': evaluation.evaluate_videos(_only(gt_videos, is_degraded), pred_videos,
                                             **settings),
      'clean': evaluation.evaluate_videos(
          _only(gt_videos, lambda video, t: not is_degraded(video, t)), pred_videos,
          **settings),
  }
