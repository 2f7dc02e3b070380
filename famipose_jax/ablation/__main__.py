"""Command line: python -m famipose_jax.ablation --out DIR [--study famipose] [--quick]
[--seeds 3] [--variants ...].

Runs the whole grid of one study (docs/ablations.md), skipping finished runs and continuing a
stopped one from its checkpoint, and writes DIR/results.json, DIR/results.md and
DIR/ablation.png.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from famipose_jax import errors
from famipose_jax.ablation import grid
from famipose_jax.ablation import studies
from famipose_jax.ablation.variant import Study

DEFAULT_CONFIG = 'configs/synthetic_ablation.py'


def _parser() -> argparse.ArgumentParser:
  known = {name: studies.study(name) for name in studies.names()}
  parser = argparse.ArgumentParser(
      prog='python -m famipose_jax.ablation',
      description='Train and evaluate every variant of an ablation study over several seeds.')
  parser.add_argument('--out', required=True, help='study folder (runs, results, plot)')
  parser.add_argument('--study', default=studies.DEFAULT,
                      help=f'the study (default {studies.DEFAULT}): a model family\'s own '
                      'ablations, or \'families\' (one row per family); known: '
                      f'{", ".join(known)}')
  parser.add_argument('--quick', action='store_true',
                      help='one seed, the study\'s quick variants (' + '; '.join(
                          f'{name}: {", ".join(s.quick)}' for name, s in known.items())
                      + '), tiny sizes and data (a check of the machinery, not a result)')
  parser.add_argument('--seeds', type=int, default=None,
                      help='number of seeds, 0..N-1 (default 3; --quick: 1)')
  parser.add_argument('--variants', default=None,
                      help='comma-separated variant names of the study (default: all; the '
                      'reference always runs; known: ' + '; '.join(
                          f'{name}: {", ".join(v.name for v in s.variants)}'
                          for name, s in known.items()) + ')')
  parser.add_argument('--config', default=DEFAULT_CONFIG,
                      help=f'the benchmark config file (default {DEFAULT_CONFIG}, from the '
                      'repository root); --quick calls its get_config(\'quick\')')
  parser.add_argument('--data-root', default=None,
                      help='the ablation dataset folder (default: the config\'s data.root; '
                      'generated there if missing)')
  return parser


def _variants(args, study: Study) -> list[str]:
  if args.variants is None:
    return list(study.quick if args.quick else (v.name for v in study.variants))
  names = [n.strip() for n in args.variants.split(',') if n.strip()]
  unknown = [n for n in names if n not in study.by_name]
  if unknown or not names:
    raise errors.UsageError(f'--variants {args.variants!r}: unknown {unknown}; known '
                            f'(--study {study.name}): {", ".join(study.by_name)}')
  # Differences are taken from the reference, so it always runs.
  return [v.name for v in study.variants if v.name in names or v.name == study.reference]


@errors.command
def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
  if seeds < 1:
    raise errors.UsageError(f'--seeds must be >= 1, got {seeds}')
  study = studies.study(args.study)
  variants = _variants(args, study)
  # JAX is imported only now: --help and argument errors answer at once.
  from famipose_jax.config import schema as config_schema  # pylint: disable=g-import-not-at-top
  from famipose_jax.config import loader as config_loader  # pylint: disable=g-import-not-at-top
  from famipose_jax.ablation import report, runner  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top

  out = os.path.abspath(args.out)
  os.makedirs(out, exist_ok=True)
  base = config_loader.load_config_file(args.config, 'quick' if args.quick else '')
  if args.data_root:
    base.data.root = args.data_root
  base.data.root = os.path.abspath(base.data.root)
  config_schema.validate_config(base)
  runs = grid.plan_runs(study, base, out, list(range(seeds)), variants)
  command = 'python -m famipose_jax.ablation ' + shlex.join(
      sys.argv[1:] if argv is None else argv)
  print(f'[ablation] study {study.name}: {len(runs)} runs ({seeds} seed(s) x {len(variants)} '
        f'variants, stage 1 once per seed) in {out}', flush=True)
  start = time.time()
  # Seeds of a variant compile the same programs: the persistent cache compiles them once.
  previous = (jax.config.jax_compilation_cache_dir,
              jax.config.jax_persistent_cache_min_compile_time_secs)
  jax.config.update('jax_compilation_cache_dir', os.path.join(out, 'jax_cache'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  try:
    outcome = runner.run_all(runs, out, log=lambda m: print(m, flush=True))
  finally:
    jax.config.update('jax_compilation_cache_dir', previous[0])
    jax.config.update('jax_persistent_cache_min_compile_time_secs', previous[1])
  complete = outcome.stopped_by is None and len(outcome.records) == len(runs)
  report.write(out, study, outcome.records, variants, list(range(seeds)), command, complete)
  print(f'[ablation] {"done" if complete else "stopped"} after {(time.time() - start) / 60:.1f} '
        f'min: {os.path.join(out, "results.md")}', flush=True)
  if complete:
    with open(os.path.join(out, 'results.md'), encoding='utf-8') as f:
      print(f.read())
  return 0 if complete else 130


if __name__ == '__main__':
  sys.exit(main())
