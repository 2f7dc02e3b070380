"""PoseTrack mAP and tracking metrics of prediction folders, printed as poseval's tables.

  python -m famipose_jax.evaluation GT_DIR PRED_DIR [PRED_DIR ...] [--per_joint]
      [--tracking auto|always|never]

Several prediction folders (e.g. backbone-only and final) print one row each, labelled by the
folder name. Thresholds default to the published config (PCKh 0.5, head size 0.6 x diagonal).

The tracking table (MOTA per joint group, then total MOTA, MOTP, precision and recall) needs
track ids on every person it scores (those of frames with a ground-truth person). With
--tracking auto (the default) it is printed for the folders whose predictions and ground truth
have them; a folder where only some predicted persons have one is named on stderr. Where the
tracking metrics refuse a folder (a repeated track id in a scored frame, or no ids under
--tracking always) the mAP table is still printed, then one line per refused folder, and the
exit status is 2.
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


class TrackingRefused(Exception):
  """The tracking metrics cannot score a folder (the message says why); mAP is unaffected."""


def _score_tracking(mode: str, label: str, gt_videos, pred_videos, settings: dict):
  """The folder's tracking result, or None where it is not scored (said on stderr).

  Only the persons the metrics score count (those of frames with a ground-truth person), as
  in `posetrack_tracking.evaluate_tracking`.

  Raises:
    TrackingRefused: --tracking always without track ids, or ids the metrics refuse (a
      repeated id in a scored frame).
  """
  if mode == 'never':
    return None
  counts = posetrack_tracking.persons_without_track_id(gt_videos, pred_videos)
  missing, scored = counts['predicted']
  if mode == 'always' and (missing or not scored):
    raise TrackingRefused(f'not every predicted person has a track_id ({missing} of {scored} '
                          'in annotated frames have none; --tracking always)')
  if mode == 'auto':
    if missing and missing < scored:
      print(f'note: {label}: {missing} of {scored} predicted persons in annotated frames have '
            'no track_id: no tracking metrics', file=sys.stderr)
    if missing or not scored:
      return None
    if counts['ground-truth'][0]:
      print(f'note: {label} has track ids but the ground truth does not: no tracking metrics',
            file=sys.stderr)
      return None
  if _frame_index_ids(pred_videos):
    print(f'note: {label}: every frame numbers its persons 0, 1, ... (as the published writer '
          'does): its MOTA says little about tracking', file=sys.stderr)
  try:
    return posetrack_tracking.evaluate_tracking(gt_videos, pred_videos, **settings)
  except posetrack_frames.EvaluationInputError as e:
    raise TrackingRefused(str(e)) from e


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
  ground_truth = posetrack_frames.read_ground_truth(args.gt_dir)
  results, tracking, refused = {}, {}, {}
  for pred_dir in args.pred_dirs:
    label = os.path.basename(os.path.normpath(pred_dir))
    if label in results:
      label = os.path.normpath(pred_dir)
    gt_videos, pred_videos = posetrack_frames.read_folder_pair(ground_truth, pred_dir)
    results[label] = posetrack_map.evaluate_videos(gt_videos, pred_videos, **settings)
    try:
      tracked = _score_tracking(args.tracking, pred_dir, gt_videos, pred_videos, settings)
    except TrackingRefused as e:   # the mAP table is printed first
      refused[pred_dir] = str(e)
      continue
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
  for pred_dir, reason in refused.items():
    print(f'error: no tracking metrics for {pred_dir}: {reason}', file=sys.stderr)
  return 2 if refused else 0


if __name__ == '__main__':
  sys.exit(main())
