"""An ablation study's rows: variants of a reference config, and the study they form.

A model family offers its study (models/registry.py, `ablation_study`); ablation/families.py
has one row per family. Every variant is the benchmark config with a few fields changed,
trained in stage 2 on the frozen stage-1 backbone of its seed; the SINGLE_FRAME row is that
stage-1 backbone itself, evaluated, not trained again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

SINGLE_FRAME = 'single_frame'


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str                        # folder name and key in results.json
  label: str                       # table row
  overrides: dict[str, Any]        # dotted config field -> value, over the stage-2 config
  group: str                       # e.g. 'components' | 'MI' | 'head' | 'frames' | 'transform'

  def json_overrides(self) -> dict[str, Any]:
    """The overrides as results.json holds them (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in self.overrides.items()}


def single_frame_row(group: str) -> Variant:
  """The SINGLE_FRAME row every study has: the seed's stage-1 backbone, evaluated."""
  return Variant(SINGLE_FRAME, 'single-frame HRNet (stage 1)', {}, group)


@dataclasses.dataclass(frozen=True)
class Study:
  """The variants of one study, the reference the others are compared with, and the few that
  `--quick` runs (a check of the machinery).

  Attributes:
    name: its `--study` value (ablation/studies.py sets it), written to results.json.
    title: the heading of results.md and of the plot; '' for none (a family's own study).
  """
  variants: tuple[Variant, ...]
  reference: str
  quick: tuple[str, ...]
  name: str = ''
  title: str = ''

  @property
  def by_name(self) -> dict[str, Variant]:
    return {v.name: v for v in self.variants}
