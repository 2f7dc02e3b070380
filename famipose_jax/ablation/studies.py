"""Which study `python -m famipose_jax.ablation --study NAME` runs: the one place that decides.

A study is a registered model family's own (ModelFamily.ablation_study, e.g. 'famipose': its
parts) or 'families' (ablation/families.py: one row per family).
"""

from __future__ import annotations

import dataclasses

from famipose_jax import errors
from famipose_jax.ablation import families
from famipose_jax.ablation.variant import Study
from famipose_jax.models import registry

DEFAULT = 'famipose'
FAMILIES = 'families'


def names() -> tuple[str, ...]:
  """Every study: the registered families that have one, in registry order, then 'families'."""
  return tuple(name for name in registry.names()
               if registry.get(name).ablation_study() is not None) + (FAMILIES,)


def study(name: str) -> Study:
  """The study called `name`, its name set; UsageError naming the known ones for another."""
  if name == FAMILIES:
    chosen = families.study()
  elif name in registry.names() and registry.get(name).ablation_study() is not None:
    chosen = registry.get(name).ablation_study()
  else:
    raise errors.UsageError(f'--study {name!r}: no such study; known: {", ".join(names())}')
  return dataclasses.replace(chosen, name=name)
