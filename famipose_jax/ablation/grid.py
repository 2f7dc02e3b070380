"""The runs of an ablation study: seeds x variants, stage 1 shared per seed.

Every variant of a study (ablation/variant.py; ablation/studies.py chooses the study) is the
benchmark config with a few fields changed, trained in stage 2 on the frozen stage-1 backbone
of its seed. 'single-frame' is that stage-1 backbone itself (the single-frame HRNet),
evaluated, not trained again.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import ml_collections

from famipose_jax.ablation.variant import SINGLE_FRAME, Study
from famipose_jax.config import defaults as config_defaults
from famipose_jax.train import stages

STAGE1_DIR = 'stage1'


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of the study (stage 1 of a seed, or one variant's stage 2)."""
  seed: int
  variant: str                     # STAGE1_DIR for the seed's single-frame backbone
  workdir: str
  config: ml_collections.ConfigDict
  # The variant's overrides as its record lists them ({} for stage 1).
  overrides: dict[str, Any] = dataclasses.field(default_factory=dict)


def seed_dir(out: str, seed: int) -> str:
  """The folder of one seed's runs in the study folder `out`."""
  return os.path.join(out, 'runs', f'seed_{seed}')


def _with_overrides(config: ml_collections.ConfigDict, overrides: dict[str, Any]
                    ) -> ml_collections.ConfigDict:
  """A copy of `config` with the overrides; 'model.family' switches the family first (its
  section at its defaults), so the other overrides may name the new section's fields."""
  config = ml_collections.ConfigDict(config.to_dict())
  if 'model.family' in overrides:
    config = config_defaults.with_family(config, overrides['model.family'])
  for dotted, value in overrides.items():
    *groups, field = dotted.split('.')
    node = config
    for group in groups:
      node = node[group]
    if field not in node:
      raise KeyError(f'ablation variant override {dotted!r}: no such config field')
    node[field] = value
  return config


def plan_runs(study: Study, base: ml_collections.ConfigDict, out: str, seeds: list[int],
              variants: list[str]) -> list[Run]:
  """Every run, seed by seed: the seed's stage 1, then each trained variant's stage 2.

  Args:
    study: the study whose variants these are.
    base: the benchmark config (configs/synthetic_ablation.py).
    out: the study folder; runs go to out/runs/seed_<s>/<variant>.
    seeds: config.seed of each seed.
    variants: names from study.variants, in grid order.
  """
  by_name = study.by_name
  unknown = [v for v in variants if v not in by_name]
  if unknown:
    raise ValueError(f'unknown ablation variant(s) {unknown}; known: {sorted(by_name)}')
  runs = []
  for seed in seeds:
    seeded = _with_overrides(base, {'seed': seed})
    stage1_dir = os.path.join(seed_dir(out, seed), STAGE1_DIR)
    runs.append(Run(seed, STAGE1_DIR, stage1_dir, stages.pretrain_config(seeded)))
    for name in variants:
      if name == SINGLE_FRAME:
        continue
      variant = by_name[name]
      stage2 = _with_overrides(seeded, {'train.pretrain_epochs': 0, 'init_from': stage1_dir,
                                        **variant.overrides})
      runs.append(Run(seed, name, os.path.join(seed_dir(out, seed), name), stage2,
                      variant.json_overrides()))
  return runs
