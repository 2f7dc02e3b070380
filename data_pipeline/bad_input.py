"""What the readers do with malformed input: stop with a precise error, or count and skip.

`data.on_bad_input` picks the policy. 'error' (the default) raises `BadInputError` naming the
file, the field and the offending value; 'skip' drops the offending record, counts it per
reason and logs one line per reason (plus a summary), so that a user training on a slightly
damaged copy of PoseTrack knows exactly what was left out.
"""

from __future__ import annotations

import collections
import logging

from data_pipeline.errors import UserError

_log = logging.getLogger(__name__)


class BadInputError(UserError, ValueError):
  """A data file contains something the pipeline cannot use."""


def describe(path: str, field: str, value, reason: str) -> str:
  text = repr(value)
  if len(text) > 120:
    text = text[:117] + '...'
  return f'{path}: field {field!r} = {text}: {reason}'


class BadInputPolicy:
  """Raises or counts bad records, as `mode` ('error' | 'skip') says."""

  def __init__(self, mode: str = 'error'):
    self.mode = mode
    self.counts: collections.Counter = collections.Counter()
    self.examples: dict[str, str] = {}

  def __call__(self, path: str, field: str, value, reason: str) -> None:
    """Reports one bad record; returns only in 'skip' mode (the caller then drops it)."""
    message = describe(path, field, value, reason)
    if self.mode != 'skip':     # only an explicit 'skip' drops data
      raise BadInputError(message + " (set data.on_bad_input='skip' to drop such records)")
    self.skip(reason, message)

  def skip(self, reason: str, message: str) -> None:
    """Counts one dropped record under `reason`, logging the first of each reason."""
    if reason not in self.counts:
      self.examples[reason] = message
      _log.warning('skipping bad input: %s', message)
    self.counts[reason] += 1

  @property
  def num_skipped(self) -> int:
    return sum(self.counts.values())

  def log_summary(self, what: str) -> None:
    for reason, count in sorted(self.counts.items()):
      _log.warning('%s: skipped %d record(s): %s (first: %s)', what, count, reason,
                   self.examples[reason])
