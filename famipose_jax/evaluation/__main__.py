"""PoseTrack mAP of prediction folders, printed as poseval's table.

  python -m famipose_jax.evaluation GT_DIR PRED_DIR [PRED_DIR ...] [--per_joint]

Several prediction folders (e.g. backbone-only and final) print one row each, labelled by the
folder name. Thresholds default to the published config (PCKh 0.5, head size 0.6 x diagonal).
"""

import argparse
import os
import sys

from famipose_jax.evaluation import posetrack_map
from famipose_jax.evaluation import tables


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m famipose_jax.evaluation',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('gt_dir', help='folder of ground-truth JSON files, one per video')
  parser.add_argument('pred_dirs', nargs='+', metavar='pred_dir',
                      help='prediction folder(s) with the same file names')
  parser.add_argument('--pckh_threshold', type=float, default=None)
  parser.add_argument('--head_size_factor', type=float, default=None)
  parser.add_argument('--per_joint', action='store_true', help='also print the 15 joint APs')
  args = parser.parse_args(argv)
  results = {}
  try:
    for pred_dir in args.pred_dirs:
      label = os.path.basename(os.path.normpath(pred_dir))
      if label in results:
        label = os.path.normpath(pred_dir)
      results[label] = posetrack_map.evaluate_folders(
          args.gt_dir, pred_dir, pckh_threshold=args.pckh_threshold,
          head_size_factor=args.head_size_factor)
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  first = next(iter(results.values()))
  print(f'{first.num_videos} videos, {first.num_frames} annotated frames, '
        f'{int(first.num_gt_joints.sum())} ground-truth joints')
  print(tables.format_table(results if len(results) > 1 else first))
  if args.per_joint:
    for label, result in results.items():
      print(f'{label}: ' + ', '.join(f'{k} {v:.1f}' for k, v in result.per_joint().items()))
  return 0


if __name__ == '__main__':
  sys.exit(main())
