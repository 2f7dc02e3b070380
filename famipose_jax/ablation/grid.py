"""The runs of an ablation study: seeds x variants, stage 1 shared per seed.

The study is a model family's (ablation/variant.py; FAMI-Pose's: models/famipose/ablations.py):
every variant is its reference with a few config fields changed, trained in stage 2 on the
frozen stage-1 backbone of its seed. 'single-frame' is that stage-1 backbone itself (the
single-frame HRNet), evaluated, not trained again.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import ml_collections

from famipose_jax.ablation.variant import SINGLE_FRAME, Variant  # noqa: F401 (the study's names)
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import registry
from famipose_jax.train import stages

STAGE1_DIR = 'stage1'
# The study `python -m famipose_jax.ablation` runs: the family whose study it is.
STUDY_FAMILY = 'famipose'
_STUDY = registry.get(STUDY_FAMILY).ablation_study()
VARIANTS = _STUDY.variants
REFERENCE = _STUDY.reference
QUICK_VARIANTS = _STUDY.quick
BY_NAME = _STUDY.by_name


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of the study (stage 1 of a seed, or one variant's stage 2)."""
  seed: int
  variant: str                     # STAGE1_DIR for the seed's single-frame backbone
  workdir: str
  config: ml_collections.ConfigDict


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


def plan_runs(base: ml_collections.ConfigDict, out: str, seeds: list[int],
              variants: list[str]) -> list[Run]:
  """Every run, seed by seed: the seed's stage 1, then each trained variant's stage 2.

  Args:
    base: the benchmark config (configs/synthetic_ablation.py).
    out: the study folder; runs go to out/runs/seed_<s>/<variant>.
    seeds: config.seed of each seed.
    variants: names from VARIANTS, in grid order.
  """
  unknown = [v for v in variants if v not in BY_NAME]
  if unknown:
    raise ValueError(f'unknown ablation variant(s) {unknown}; known: {sorted(BY_NAME)}')
  runs = []
  for seed in seeds:
    seeded = _with_overrides(base, {'seed': seed})
    stage1_dir = os.path.join(seed_dir(out, seed), STAGE1_DIR)
    runs.append(Run(seed, STAGE1_DIR, stage1_dir, stages.pretrain_config(seeded)))
    for name in variants:
      if name == SINGLE_FRAME:
        continue
      stage2 = _with_overrides(seeded, {'train.pretrain_epochs': 0, 'init_from': stage1_dir,
                                        **BY_NAME[name].overrides})
      runs.append(Run(seed, name, os.path.join(seed_dir(out, seed), name), stage2))
  return runs
