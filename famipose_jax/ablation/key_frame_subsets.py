"""PoseTrack mAP on the degraded key frames and on the clean ones, from a run's prediction files.

The ablation data's manifest lists every degraded frame (data_pipeline.synthetic,
`degraded_frames`). Scoring a subset keeps the ground truth of its frames and empties the
others (an empty ground-truth frame is not scored), so each subset is scored by the same
evaluator, with the same predictions, as the whole split.
"""

from __future__ import annotations

import dataclasses

from data_pipeline import synthetic
from famipose_jax import evaluation

SUBSETS = ('degraded', 'clean')


def degraded_frames(data_root: str, split: str = 'val') -> dict[str, dict[int, str]]:
  """{video name: {degraded frame index: its degradation}} from the manifest at `data_root`."""
  manifest = synthetic.read_manifest(data_root)
  if manifest is None:
    raise ValueError(f'{data_root}: not a synthetic dataset (no {synthetic.MANIFEST} of this '
                     'generator)')
  if 'degraded_frames' not in manifest:
    raise ValueError(f'{data_root}/{synthetic.MANIFEST}: no degraded_frames (the dataset was '
                     'generated with degraded_frame_share=0); the ablation data has them')
  return {video: {int(t): kind for t, kind in frames.items()}
          for video, frames in manifest['degraded_frames'][split].items()}


def _only(gt_videos, keep) -> list:
  """The ground-truth videos with every frame for which keep(video, frame) is false emptied."""
  return [dataclasses.replace(video, frames=[
      frame if keep(video.name, frame.frame_index) else dataclasses.replace(frame, persons=[])
      for frame in video.frames]) for video in gt_videos]


def subset_results(gt_dir: str, prediction_dir: str, degraded: dict[str, dict[int, str]],
                   **settings) -> dict[str, evaluation.PoseTrackResult]:
  """The mAP of one prediction folder on the degraded and on the clean key frames.

  Args:
    gt_dir: the per-video ground-truth files.
    prediction_dir: one prediction file per ground-truth file.
    degraded: `degraded_frames` of the same split.
    **settings: pckh_threshold, head_size_factor (evaluation.evaluate_videos).

  Returns:
    {'degraded': PoseTrackResult, 'clean': PoseTrackResult}.
  """
  gt_videos, pred_videos = evaluation.read_folder_pair(gt_dir, prediction_dir)
  missing = sorted({v.name for v in gt_videos} - set(degraded))
  if missing:
    raise ValueError(f'{gt_dir}: videos {missing} are not in the manifest\'s degraded_frames')

  def is_degraded(video, t):
    return t in degraded[video]

  def is_clean(video, t):
    return not is_degraded(video, t)

  return {name: evaluation.evaluate_videos(_only(gt_videos, keep), pred_videos, **settings)
          for name, keep in (('degraded', is_degraded), ('clean', is_clean))}
