"""The families study (`--study families`): one row per model family on the same benchmark.

Each family is trained in stage 2 on the frozen stage-1 backbone of its seed, as in a family's
own study, so the rows differ only by the family. The reference is that backbone itself, the
single-frame HRNet: its record is stage 1's own evaluation, so each family's paired difference
is its gain over the backbone it shares with the others.
"""

from __future__ import annotations

from famipose_jax.ablation.variant import SINGLE_FRAME, Study, Variant
from famipose_jax.models import registry

GROUP = 'families'
TITLE = "Study 'families': each model family on its seed's shared stage-1 backbone"

# A family's row appears only while its family is registered (TDMI's: once it is).
ROWS = (
    Variant(SINGLE_FRAME, 'single-frame HRNet (stage 1)', {}, GROUP),
    # DCPose reads t -/+ model.dcpose.frame_distance (1: the benchmark's frames -1, +1), not
    # data.supporting_offsets; it trains on a frozen backbone only, as the benchmark's stage 2.
    Variant('dcpose', 'DCPose', {'model.family': 'dcpose'}, GROUP),
    # The benchmark config itself (FAMI-Pose, model.famipose.mi='none'): the name and config of
    # FAMI-Pose's study's reference, so a folder holding that study reuses its runs.
    Variant('fami_no_mi', 'FAMI-Pose without MI', {}, GROUP),
    Variant('tdmi', 'TDMI', {'model.family': 'tdmi'}, GROUP),
)


def rows() -> tuple[Variant, ...]:
  """The rows whose family is registered now, in ROWS order."""
  known = registry.names()
  return tuple(row for row in ROWS
               if 'model.family' not in row.overrides or row.overrides['model.family'] in known)


def study() -> Study:
  """The study; --quick runs every row too (a row per family is the check)."""
  variants = rows()
  return Study(variants=variants, reference=SINGLE_FRAME,
               quick=tuple(v.name for v in variants), title=TITLE)
