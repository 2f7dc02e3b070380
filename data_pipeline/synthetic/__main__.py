"""Command line: python -m data_pipeline.synthetic --out DIR [--seed 0 --train-videos 20 ...]."""

import argparse
import dataclasses
import sys

from data_pipeline.synthetic.dataset import DatasetExistsError, generate
from data_pipeline.synthetic.settings import Settings


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m data_pipeline.synthetic',
      description='Generate a synthetic PoseTrack-like dataset (PoseTrack18 folder layout).')
  parser.add_argument('--out', required=True, help='dataset root to create')
  parser.add_argument('--workers', type=int, default=None,
                      help='parallel processes (default: min(2, CPUs)); output does not depend '
                      'on it')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace OUT if it is a synthetic dataset with other settings')
  parser.add_argument('--quiet', action='store_true')
  defaults = Settings()
  for field in dataclasses.fields(Settings):
    value = getattr(defaults, field.name)
    parser.add_argument('--' + field.name.replace('_', '-'), type=type(value), default=value,
                        help=f'(default {value})')
  return parser


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)}
  try:
    generate(args.out, workers=args.workers, overwrite=args.overwrite, verbose=not args.quiet,
             **settings)
  except (DatasetExistsError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
