"""The logging window: the sums of the step metrics since the last log line.

A log line holds the means over the steps since the previous one. The window's sums and step
count travel in every checkpoint's meta (`to_meta` / `from_meta`), so a run resumed from a
checkpoint taken between two log lines continues the window it was in, and its next line
averages the same steps as in an uninterrupted run.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

# The key of the window in a checkpoint's meta.
META_KEY = 'log_window'


@dataclasses.dataclass
class MetricWindow:
  """Running sums of scalar metrics over `steps` steps."""
  sums: dict[str, float] = dataclasses.field(default_factory=dict)
  steps: int = 0

  def add(self, values: Mapping[str, float]):
    for name, value in values.items():
      self.sums[name] = self.sums.get(name, 0.0) + float(value)
    self.steps += 1

  def means(self) -> dict[str, float]:
    return {name: total / self.steps for name, total in self.sums.items()}

  def clear(self):
    self.sums, self.steps = {}, 0

  def to_meta(self) -> dict[str, Any]:
    return {'sums': dict(self.sums), 'steps': self.steps}

  @classmethod
  def from_meta(cls, meta: Mapping[str, Any]) -> MetricWindow:
    """The window saved in a checkpoint's `meta`; empty for checkpoints written without one."""
    saved = meta.get(META_KEY)
    if not saved:
      return cls()
    return cls(sums={k: float(v) for k, v in saved['sums'].items()}, steps=int(saved['steps']))
