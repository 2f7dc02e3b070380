"""Where a compiled step spends its time: the top ops of a profile, and its largest fusions.

  python bench/profile_step.py                     # the W48 train step, B=2
  python bench/profile_step.py --what forward      # the W48 inference forward, B=1
  python bench/profile_step.py --small --top 15
  python bench/profile_step.py --config configs/synthetic.py --batch 16   # the demo's stage 2

Runs the step once to compile and warm up, then `--steps` times under `jax.profiler.trace`,
and prints (1) time per op name summed over every XLA thread (fusions keep their HLO name, so
`maximum_remainder_fusion.12` can be looked up in the optimised HLO the script also writes),
grouped by kind and one by one, and (2) the fusions with the most operands: one with hundreds
of operands recomputes work that belongs to other ops (see `blocks.materialize`).

On XLA:CPU the time inside convolutions and library matrix products runs on Eigen's thread
pool without op names, so the total of the named ops is below threads x wall time; the
remainder is printed as such. The trace folder can also be opened in TensorBoard's profiler
or Perfetto.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import tempfile
import time

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax

from famipose_jax import experiment as experiment_lib

import forward as forward_bench
import train_step as train_bench
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

_SKIP = ('Threadpool', 'end:', 'ThunkExecutor', '$')


def op_times(trace_dir: str) -> collections.Counter:
  """Nanoseconds per event name on the XLA threads of the newest trace in `trace_dir`."""
  path = sorted(glob.glob(os.path.join(trace_dir, '**', '*.xplane.pb'), recursive=True))[-1]
  profile = jax.profiler.ProfileData.from_file(path)
  times = collections.Counter()
  for plane in profile.planes:
    if plane.name in ('/host:metadata', 'Task Environment'):
      continue
    for line in plane.lines:
      if line.name == 'python' or 'PjRtCpuClient' in line.name:
        continue   # Python frames and the executor's wait, not ops
      for event in line.events:
        if not event.name.startswith(_SKIP):
          times[event.name] += event.duration_ns
  return times


def largest_fusions(hlo_text: str, count: int) -> list[tuple[int, str]]:
  """(operand count, fused computation name) of the `count` widest fusions of an HLO module."""
  widths = []
  for line in hlo_text.splitlines():
    if line.startswith('%fused'):
      widths.append((len(re.findall(r'param_\d+(?:\.\d+)?: ', line)), line.split(' ', 1)[0]))
  return sorted(widths, reverse=True)[:count]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--what', default='train', choices=('train', 'forward'))
  parser.add_argument('--batch', type=int, default=0, help='default: 2 (train), 1 (forward)')
  parser.add_argument('--small', action='store_true', help='the tiny `:local` network')
  harness.add_config_flags(parser)
  parser.add_argument('--steps', type=int, default=2, help='profiled calls')
  parser.add_argument('--top', type=int, default=25, help='rows per table')
  parser.add_argument('--out', default='', help='trace folder (default: a temporary one)')
  args = parser.parse_args(argv)

  config = harness.config_from_flags(args, args.small)
  num_supporting = len(config.data.supporting_offsets)
  if args.what == 'train':
    batch = args.batch or 2
    experiment = experiment_lib.Experiment(config, steps_per_epoch=1000)
    call, info = train_bench.jax_side(experiment, train_bench.random_batch(experiment, batch))
  else:
    batch = args.batch or 1
    key, support = forward_bench.random_frames(config.model, batch, num_supporting)
    call, info = forward_bench.jax_side(config.model, key, support)
  call()
  out = args.out or tempfile.mkdtemp(prefix='famipose_profile_')
  start = time.perf_counter()
  with jax.profiler.trace(out):
    for _ in range(args.steps):
      call()
  wall = (time.perf_counter() - start) / args.steps
  times = op_times(out)

  named = sum(times.values()) / args.steps / 1e9
  threads = os.cpu_count() if jax.default_backend() == 'cpu' else 1
  print(f'{args.what} step, batch {batch}: {wall:.3f} s per call (traced), compile '
        f"{info['compile_s']:.1f} s; named ops {named:.2f} s of {threads} threads x wall = "
        f'{threads * wall:.2f} s' + (' (the rest: convolutions, dots, idle)'
                                     if threads > 1 else ''))
  kinds = collections.Counter()
  for name, ns in times.items():
    kinds[re.sub(r'\.\d+$', '', name)] += ns
  for title, table in (('by kind', kinds), ('one by one', times)):
    print(f'\n{title} (ms per call, summed over threads):')
    for name, ns in table.most_common(args.top):
      print(f'  {ns / args.steps / 1e6:10.1f}  {name}')
  hlo = call.compiled.as_text()
  hlo_path = os.path.join(out, 'optimized_hlo.txt')
  with open(hlo_path, 'w', encoding='utf-8') as f:
    f.write(hlo)
  print('\nwidest fusions (operands, fused computation):')
  for width, name in largest_fusions(hlo, min(args.top, 10)):
    print(f'  {width:5d}  {name}')
  print(f'\ntrace: {out}\noptimised HLO: {hlo_path}')
  return times


if __name__ == '__main__':
  main()
