"""The variants of the ablation study and the runs they make: seeds x variants, stage 1 shared.

Every variant is the reference (FAMI-Pose without MI: global transformation and local
calibration, two supporting frames, heatmap head) with a few config fields changed, trained in
stage 2 on the frozen stage-1 backbone of its seed. 'single-frame' is that stage-1 backbone
itself (the single-frame HRNet), evaluated, not trained again.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import ml_collections

from famipose_jax.train import stages

REFERENCE = 'fami_no_mi'
SINGLE_FRAME = 'single_frame'
STAGE1_DIR = 'stage1'


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str                        # folder name and key in results.json
  label: str                       # table row
  overrides: dict[str, Any]        # dotted config field -> value, over the stage-2 config
  group: str                       # 'components' | 'MI' | 'head' | 'frames' | 'transform'

  def json_overrides(self) -> dict[str, Any]:
    """The overrides as results.json holds them (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in self.overrides.items()}


VARIANTS = (
    Variant(SINGLE_FRAME, 'single-frame HRNet (stage 1)', {}, 'components'),
    Variant('global_only', 'global transformation only', {'model.local_calibration': False},
            'components'),
    Variant('local_only', 'local calibration only', {'model.global_transform': 'none'},
            'components'),
    Variant(REFERENCE, 'FAMI-Pose without MI (reference)', {}, 'components'),
    # The published DCN uses its raw mask; with N(0, 0.001) weights it starts near 0, so the
    # calibrated supporting features start near 0 too. DCNv2's sigmoid mask starts at 0.5.
    Variant('dcn_sigmoid_mask', 'local calibration with a sigmoid mask',
            {'model.dcn_mask_activation': 'sigmoid'}, 'components'),
    Variant('mi_published', '+ MI, published terms', {'loss.mi': 'published'}, 'MI'),
    Variant('mi_true_kl', '+ MI, true KL', {'loss.mi': 'published', 'loss.mi_faithful': False},
            'MI'),
    Variant('mi_critic', '+ MI, learned critic', {'loss.mi': 'critic'}, 'MI'),
    # The one targeted MI attempt: the published terms at a tenth of their weights.
    Variant('mi_published_low', '+ MI, published terms x0.1',
            {'loss.mi': 'published', 'loss.mi_alpha': 0.05, 'loss.mi_beta': 0.01}, 'MI'),
    Variant('simcc', 'SimCC head', {'model.head': 'simcc'}, 'head'),
    Variant('frames_1', '1 supporting frame (previous)', {'data.supporting_offsets': (-1,)},
            'frames'),
    Variant('frames_4', '4 supporting frames (+-1, +-2)',
            {'data.supporting_offsets': (-2, -1, 1, 2)}, 'frames'),
    Variant('affine', 'affine global transformation', {'model.global_transform': 'affine'},
            'transform'),
)
QUICK_VARIANTS = (SINGLE_FRAME, 'global_only', REFERENCE)
BY_NAME = {v.name: v for v in VARIANTS}


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
  config = ml_collections.ConfigDict(config.to_dict())
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
