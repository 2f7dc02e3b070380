"""Checkpoint saves: how long the training thread stalls, and the CPU a save costs.

  python bench/checkpoint_save.py                  # FAMI-Pose W48 train state, 3 saves each
  python bench/checkpoint_save.py --small --rounds 2
  python bench/checkpoint_save.py --config configs/synthetic.py --stage 1   # the demo's state

Each round saves the same train state (random weights at the published scale, the optimiser's
state included: what the trainer saves) with each kind of Checkpointer, in turn, into fresh
folders:
  foreground  the behaviour before 2026-12-05: the previous checkpoint's read-back, the new
              state's checksums and Orbax's start all on the caller's thread, one Orbax array
              per leaf;
  background  the caller only copies the state, a worker thread does the rest (one array per
              leaf);
  packed      background, the state packed into one array per dtype (checkpoints/
              packed_state.py): what the trainer does now.
`stall` is the time `save` blocks its caller, `final_wait` the time `wait` then takes for the
last save to be on disk and read back, and `cpu` the process's CPU time per save (a round's CPU
time over its saves; the caller sleeps in between, so it is the saves' own work). Between saves
the caller sleeps `--gap` seconds, standing in for the training steps, during which a
background save does its work: on a machine with few cores that work competes with the
training itself, which is what `cpu` measures.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax

from famipose_jax import experiment as experiment_lib
from famipose_jax.checkpoints import checkpointer
from famipose_jax.runtime import sharding
from train_step import jax_state
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

# kind: (background, packed) of its Checkpointer.
KINDS = {'foreground': (False, False), 'background': (True, False), 'packed': (True, True)}


def state_megabytes(state) -> float:
  return sum(x.nbytes for x in jax.tree_util.tree_leaves(state)) / 1e6


def one_round(kind: str, config, state, saves: int, gap: float) -> dict[str, list[float]]:
  """`saves` saves of `state` by a fresh Checkpointer of `kind`, keeping 2 (the read-back and
  retention of each previous save happen within the next save)."""
  stalls, settled = [], []
  background, packed = KINDS[kind]
  with tempfile.TemporaryDirectory() as workdir:
    ckpt = checkpointer.Checkpointer(workdir, config, save_every_steps=1, keep=2,
                                     background=background, packed=packed)
    cpu_start = _cpu_seconds()
    for i in range(saves):
      start = time.perf_counter()
      ckpt.save(i + 1, state, {'epoch': 0})
      stalls.append(time.perf_counter() - start)
      time.sleep(gap)
    start = time.perf_counter()
    ckpt.wait()
    settled.append(time.perf_counter() - start)
    cpu = (_cpu_seconds() - cpu_start) / saves
    ckpt.close()
  return {'stall_s': stalls, 'final_wait_s': settled, 'cpu_s': cpu}


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--saves', type=int, default=3, help='saves per round and kind')
  parser.add_argument('--gap', type=float, default=10.0,
                      help='seconds between saves (the training steps in between)')
  harness.add_common_flags(parser)
  harness.add_config_flags(parser)
  args = parser.parse_args(argv)
  config = (harness.config_from_flags(args, args.small) if args.config
            else harness.experiment_config(args.small, args.family))
  experiment = experiment_lib.Experiment(config, steps_per_epoch=1000)
  state = jax_state(experiment, sharding.make_mesh(jax.devices()[:1]))
  result = {'benchmark': 'checkpoint_save', 'family': args.family, 'small': args.small,
            'config': args.config, 'stage': args.stage if args.config else None,
            'leaves': len(jax.tree_util.tree_leaves(state)),
            'state_mb': state_megabytes(state), 'saves': args.saves, 'gap_s': args.gap,
            'machine': harness.machine()}
  rounds = {kind: [] for kind in KINDS}
  for _ in range(args.rounds):
    for kind in KINDS:
      rounds[kind].append(one_round(kind, config, state, args.saves, args.gap))
  for kind in KINDS:
    # The first save of a round has no previous checkpoint to read back: the later ones are
    # what a training run pays at every save.
    later = [s for r in rounds[kind] for s in r['stall_s'][1:]]
    result[kind] = {'stall': harness.seconds(later),
                    'first_stall': harness.seconds([r['stall_s'][0] for r in rounds[kind]]),
                    'final_wait': harness.seconds([r['final_wait_s'][0] for r in rounds[kind]]),
                    'cpu': harness.seconds([r['cpu_s'] for r in rounds[kind]])}
  result['stall_ratio'] = (result['foreground']['stall']['median_s']
                           / result['background']['stall']['median_s'])
  result['cpu_ratio_packed'] = (result['background']['cpu']['median_s']
                                / result['packed']['cpu']['median_s'])
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
