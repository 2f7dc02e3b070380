"""The train step under extra XLA:CPU options, each against the project's own, in one process.

  python bench/xla_options.py --option xla_cpu_use_onednn=true \
      --option xla_cpu_prefer_vector_width=512        # FAMI-Pose W48, B=2 (the published step)
  python bench/xla_options.py --config configs/synthetic.py --batch 16 --rounds 12 \
      --option xla_cpu_enable_concurrency_optimized_scheduler=true   # the demo's stage 2
  python bench/xla_options.py --config configs/synthetic.py --stage 1 --batch 16 ...
  python bench/xla_options.py --what forward --option ...   # the W48 inference forward, B=1

The step (`Experiment.train_step`, random weights at the published scale, a random uint8
batch; or with `--what forward` bench/forward.py's eval-mode forward to the heatmaps) is
lowered once and compiled once per variant: the project's options
(runtime/compiler_options.py), then each `--option NAME=VALUE` added to them (VALUE read as
JSON: true, 512, "x", "" for an empty string). Each train variant runs 3 steps from the same
state on the same batch, and its state is compared bit for bit with the base variant's (a
forward variant: its heatmaps); then the calls alternate (base, a, b, base, ...) for
`--rounds`, after one warm-up call each. Reported: seconds per call (median), base / variant
(above 1: the option is faster) and whether it keeps the bits.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax

from famipose_jax import experiment as experiment_lib
from famipose_jax.models import inputs as model_inputs
from famipose_jax.runtime import compiler_options
from famipose_jax.runtime import sharding

import forward as forward_bench
import train_step as train_bench
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

BITS_STEPS = 3


def parse_option(text: str) -> tuple[str, object]:
  name, _, value = text.partition('=')
  if not name or not value:
    raise SystemExit(f'--option {text!r}: expected NAME=VALUE')
  try:
    return name, json.loads(value)
  except json.JSONDecodeError:
    return name, value


def _train_variants(config, batch_size: int, variants: dict):
  """({variant: a call running one train step}, {variant: its state's leaves after 3 steps})."""
  experiment = experiment_lib.Experiment(config, steps_per_epoch=1000)
  mesh = sharding.make_mesh(jax.devices()[:1])
  batch = sharding.put_batch(train_bench.random_batch(experiment, batch_size), mesh,
                             experiment.train_keys)
  lowered = experiment.train_step(mesh).lower(train_bench.jax_state(experiment, mesh), batch)
  calls, bits = {}, {}
  for name, extra in variants.items():
    compiled = lowered.compile(compiler_options=dict(compiler_options.for_backend(), **extra))
    state = train_bench.jax_state(experiment, mesh)
    for _ in range(BITS_STEPS):
      state, _ = compiled(state, batch)
    bits[name] = jax.tree_util.tree_leaves(jax.device_get(state))
    holder = {'state': state}

    def call(compiled=compiled, holder=holder):
      holder['state'], metrics = compiled(holder['state'], batch)
      jax.block_until_ready(metrics['loss'])
    calls[name] = call
  return calls, bits


def _forward_variants(config, batch_size: int, variants: dict):
  """({variant: a call running one forward}, {variant: [its heatmaps]})."""
  key, support = forward_bench.random_frames(
      config.model, batch_size, len(model_inputs.clip_of(config).offsets))
  forward, args = forward_bench.forward_program(config.model, key, support)
  lowered = forward.lower(*args)
  calls, bits = {}, {}
  for name, extra in variants.items():
    compiled = lowered.compile(compiler_options=dict(compiler_options.for_backend(), **extra))
    bits[name] = [np.asarray(compiled(*args))]
    calls[name] = lambda compiled=compiled: compiled(*args).block_until_ready()
  return calls, bits


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--option', action='append', default=[], metavar='NAME=VALUE',
                      help='an XLA option to try (repeat for more variants)')
  harness.add_config_flags(parser)
  parser.add_argument('--what', default='train', choices=('train', 'forward'))
  parser.add_argument('--batch', type=int, default=0, help='clips per call (default: 2 for '
                      'train, 1 for forward)')
  parser.add_argument('--rounds', type=int, default=3, help='timed calls of each variant')
  parser.add_argument('--json', default='', help='write the result here too')
  args = parser.parse_args(argv)

  args.batch = args.batch or (2 if args.what == 'train' else 1)
  config = harness.config_from_flags(args)
  variants = {'base': {}, **{f'{n}={v}': {n: v} for n, v in map(parse_option, args.option)}}
  build = _train_variants if args.what == 'train' else _forward_variants
  calls, bits = build(config, args.batch, variants)
  times = harness.interleaved(calls, args.rounds)
  base = harness.seconds(times['base'])['median_s']
  result = {'benchmark': 'xla_options', 'what': args.what,
            'config': args.config or 'posetrack17 W48', 'stage': args.stage,
            'batch': args.batch, 'rounds': args.rounds, 'machine': harness.machine()}
  for name in variants:
    seconds = harness.seconds(times[name])
    result[name] = dict(seconds, base_over_this=base / seconds['median_s'],
                        same_bits=all(np.array_equal(a, b)
                                      for a, b in zip(bits['base'], bits[name])))
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
