"""The whole benchmark suite in one process: train step, inference, HRNet alone, one DCN layer.

  python bench/suite.py --out /tmp/suite                    # this machine, float32
  python bench/suite.py --out $OUT --dtypes float32,bfloat16 --batch 8   # on a GPU machine
  python bench/suite.py --out /tmp/suite_small --small --rounds 1       # a minute, CPU (tested)

Each benchmark writes its JSON into --out (train_step_<dtype>.json, forward_<dtype>.json,
hrnet_<dtype>.json, dcn.json) and the suite writes suite.json with every result. On a GPU
the PyTorch side runs on CUDA with torchvision's CUDA DCN (`--torch-device auto`); without
PyTorch, or with --no-torch, only ours is timed. The train step reports XLA's FLOP count and,
on GPUs with a known peak, the model FLOP utilisation.
"""

from __future__ import annotations

import argparse
import os

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import dcn as dcn_bench
import forward as forward_bench
import train_step as train_bench
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='folder for the JSON results')
  parser.add_argument('--dtypes', default='float32', help='comma-separated: float32,bfloat16')
  parser.add_argument('--batch', type=int, default=2, help='train-step clips')
  parser.add_argument('--small', action='store_true', help='the tiny `:local` network')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--no-torch', dest='torch', action='store_false')
  args = parser.parse_args(argv)

  os.makedirs(args.out, exist_ok=True)
  common = ['--rounds', str(args.rounds)] + (['--small'] if args.small else [])
  if args.torch:
    try:
      harness.import_torch(2)
    except ImportError:
      print('PyTorch is not importable here: timing ours only')
      args.torch = False
  if not args.torch:
    common.append('--no-torch')
  path = lambda name: ['--json', os.path.join(args.out, f'{name}.json')]
  results = {}
  for dtype in args.dtypes.split(','):
    results[f'train_step_{dtype}'] = train_bench.main(
        ['--batch', str(args.batch), '--dtype', dtype] + common + path(f'train_step_{dtype}'))
    results[f'forward_{dtype}'] = forward_bench.main(
        ['--dtype', dtype] + common + path(f'forward_{dtype}'))
    results[f'hrnet_{dtype}'] = forward_bench.main(
        ['--part', 'hrnet', '--batch', '5', '--dtype', dtype] + common + path(f'hrnet_{dtype}'))
  results['dcn'] = dcn_bench.main(common + path('dcn'))
  headline = lambda key: 'ratio' in key or key.endswith(('_s_per_step', '_s_per_forward', 'mfu'))
  harness.report({name: {k: v for k, v in r.items() if headline(k)}
                  for name, r in results.items()}, os.path.join(args.out, 'suite.json'))
  return results


if __name__ == '__main__':
  main()
