"""The families study (`--study families`): one row per model family on the same benchmark.

Each family is trained in stage 2 on the frozen stage-1 backbone of its seed, as in a family's
own study, so the rows differ only by the family. A family's row is its own study's reference
where it has a study (same name and config, so a folder holding that study reuses the run:
FAMI-Pose without MI, TDMI on the benchmark's frames), else the family at its defaults (DCPose).
The reference is the stage-1 backbone itself, the single-frame HRNet: its record is stage 1's
own evaluation, so each family's paired difference is its gain over the backbone they share.
"""

from __future__ import annotations

import dataclasses

from famipose_jax.ablation.variant import SINGLE_FRAME, Study, Variant, single_frame_row
from famipose_jax.models import registry

GROUP = 'families'
TITLE = "Study 'families': each model family on its seed's shared stage-1 backbone"
_REFERENCE_SUFFIX = ' (reference)'


def family_row(name: str) -> Variant:
  """The row of registered family `name` (module docstring)."""
  family = registry.get(name)
  own = family.ablation_study()
  if own is None:
    return Variant(name, family.label, {'model.family': name}, GROUP)
  reference = own.by_name[own.reference]
  return dataclasses.replace(reference, label=reference.label.removesuffix(_REFERENCE_SUFFIX),
                             group=GROUP)


def rows() -> tuple[Variant, ...]:
  """The single-frame HRNet, then every other registered family in registry order."""
  return (single_frame_row(GROUP),) + tuple(
      family_row(name) for name in registry.names() if name != 'single_frame')


def study() -> Study:
  """The study; --quick runs every row too (a row per family is the check)."""
  variants = rows()
  return Study(variants=variants, reference=SINGLE_FRAME,
               quick=tuple(v.name for v in variants), title=TITLE)
