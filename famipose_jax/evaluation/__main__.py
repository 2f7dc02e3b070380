"""PoseTrack mAP and tracking metrics of prediction folders, printed as poseval's tables.

  python -m famipose_jax.evaluation GT_DIR PRED_DIR [PRED_DIR ...] [--per_joint]
      [--tracking auto|always|never]

Several prediction folders (e.g. backbone-only and final) print one row each, labelled by the
folder name. Thresholds default to the published config (PCKh 0.5, head size 0.6 x diagonal).

The tracking table (MOTA per joint group, then total MOTA, MOTP, precision and recall) needs
track ids. With --tracking auto (the default) it is printed for the folders that carry them:
every predicted person of every file has a track_id (and the ground truth has them too).
"""

import argparse
import os
import sys

from famipose_jax import errors
from famipose_jax.evaluation import posetrack_frames
from famipose_jax.evaluation import posetrack_map
from famipose_jax.evaluation import posetrack_tracking
from famipose_jax.evaluation import tables

TRACKING_CHOICES = ('auto', 'always', 'never')


def _frame_index_ids(videos) -> bool:
  """Whether the track ids are each person's index in its frame (the published writer's ids).

  Only a frame with two or more persons tells them from a tracker's ids.
  """
  frames = [f for video in videos for f in video.frames if f.persons]
  return (any(len(f.persons) > 1 for f in frames)
          and all([p.track_id for p in f.persons] == list(range(len(f.persons)))
                  for f in frames))


def _score_tracking(mode: str, label: str, gt_videos, pred_videos, settings: dict):
  """The folder's tracking result, or None where auto finds no track ids (noted on stderr)."""
  if mode == 'never':
    return None
  if not posetrack_tracking.carries_track_ids(pred_videos):
    if mode == 'always':
      raise errors.UsageError(f'{label}: not every predicted person has a track_id '
                              '(--tracking always)')
    return None
  if mode == 'auto' and not posetrack_tracking.carries_track_ids(gt_videos):
    print(f'note: {label} has track ids but the ground truth does not: no tracking metrics',
          file=sys.stderr)
    return None
  if _frame_index_ids(pred_videos):
    print(f'note: {label}: every frame numbers its persons 0, 1, ... (as the published writer '
          'does): its MOTA says little about tracking', file=sys.stderr)
  return posetrack_tracking.evaluate_tracking(gt_videos, pred_videos, **settings)


def _print_per_joint(results, what: str):
  for label, result in results.items():
    print(f'{label}{what}: ' + ', '.join(f'{k} {v:.1f}' for k, v in result.per_joint().items()))


@errors.command
def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m famipose_jax.evaluation',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('gt_dir', help='folder of ground-truth JSON files, one per video')
  parser.add_argument('pred_dirs', nargs='+', metavar='pred_dir',
                      help='prediction folder(s) with the same file names')
  parser.add_argument('--pckh_threshold', type=float, default=None)
  parser.add_argument('--head_size_factor', type=float, default=None)
  parser.add_argument('--per_joint', action='store_true', help='also print the 15 joint values')
  parser.add_argument('--tracking', choices=TRACKING_CHOICES, default='auto',
                      help='tracking metrics: where the predictions carry track ids (auto), '
                      'required (always) or not computed (never)')
  args = parser.parse_args(argv)
  settings = dict(pckh_threshold=args.pckh_threshold, head_size_factor=args.head_size_factor)
  results, tracking = {}, {}
  for pred_dir in args.pred_dirs:
    label = os.path.basename(os.path.normpath(pred_dir))
    if label in results:
      label = os.path.normpath(pred_dir)
    gt_videos, pred_videos = posetrack_frames.read_folder_pair(args.gt_dir, pred_dir)
    results[label] = posetrack_map.evaluate_videos(gt_videos, pred_videos, **settings)
    tracked = _score_tracking(args.tracking, pred_dir, gt_videos, pred_videos, settings)
    if tracked is not None:
      tracking[label] = tracked
  first = next(iter(results.values()))
  print(f'{first.num_videos} videos, {first.num_frames} annotated frames, '
        f'{int(first.num_gt_joints.sum())} ground-truth joints')
  print(tables.format_table(results if len(results) > 1 else first))
  if args.per_joint:
    _print_per_joint(results, '')
  if tracking:
    scored = next(iter(tracking.values()))
    print(f'\nTracking: MOTA per joint group, then the totals ({scored.num_frames} frames of '
          f'{scored.num_videos} videos; each video\'s last annotated frame is left out)')
    print(tables.format_table(tracking if len(results) > 1 else scored))
    if args.per_joint:
      _print_per_joint(tracking, ' MOTA')
  return 0


if __name__ == '__main__':
  sys.exit(main())
