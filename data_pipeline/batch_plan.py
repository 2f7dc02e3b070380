"""Which samples form batch `step` on this process: the one schedule every loader follows.

Training: epoch e visits the samples in a permutation drawn from (seed, e); global batch g of
the epoch takes positions [g B P, (g + 1) B P) of it (B = per-process batch, P = processes) and
process p its slice [p B, (p + 1) B); the remainder of an epoch is dropped; steps run forever,
step s belonging to epoch s // steps_per_epoch. Resuming at step s therefore reproduces the
exact data order of an uninterrupted run.

Evaluation: one pass in sample order, the same slicing, the last global batch padded with
index -1 (an element with valid = False).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np

PADDING = -1


def epoch_permutation(seed: int, epoch: int, num_samples: int) -> np.ndarray:
  """The sample order of one training epoch ([num_samples] int64)."""
  # Counter word 1 = 1 keeps this stream apart from the per-sample streams (word 1 = 0).
  rng = np.random.Generator(np.random.Philox(key=seed & (2**64 - 1), counter=[0, 1, epoch, 0]))
  return rng.permutation(num_samples)


@dataclasses.dataclass(frozen=True)
class BatchPlan:
  """The batch schedule of one process (see the module docstring)."""
  num_samples: int
  batch_size: int          # per process
  train: bool
  seed: int = 0
  process_index: int = 0
  process_count: int = 1

  def __post_init__(self):
    if self.batch_size <= 0:
      raise ValueError(f'batch_size must be positive, got {self.batch_size}')
    if not 0 <= self.process_index < self.process_count:
      raise ValueError(f'process_index {self.process_index} outside 0..{self.process_count - 1}')
    if self.train and self.num_samples < self.global_batch_size:
      raise ValueError(f'{self.num_samples} training samples cannot fill one global batch of '
                       f'{self.global_batch_size} ({self.batch_size} x {self.process_count} '
                       'processes)')

  @property
  def global_batch_size(self) -> int:
    return self.batch_size * self.process_count

  @property
  def steps_per_epoch(self) -> int:
    if self.train:
      return self.num_samples // self.global_batch_size
    return -(-self.num_samples // self.global_batch_size)

  def epoch_of(self, step: int) -> int:
    return step // self.steps_per_epoch if self.train else 0

  @functools.lru_cache(maxsize=2)
  def _order(self, epoch: int) -> np.ndarray:
    if self.train:
      return epoch_permutation(self.seed, epoch, self.num_samples)
    return np.arange(self.num_samples)

  def batch(self, step: int) -> list[tuple[int, int]]:
    """[(sample index or PADDING, epoch)] * batch_size for `step` on this process."""
    epoch = self.epoch_of(step)
    if not self.train and step >= self.steps_per_epoch:
      raise IndexError(f'evaluation has {self.steps_per_epoch} steps, asked for step {step}')
    order = self._order(epoch)
    start = ((step - epoch * self.steps_per_epoch) * self.global_batch_size
             + self.process_index * self.batch_size)
    positions = range(start, start + self.batch_size)
    return [(int(order[p]) if p < self.num_samples else PADDING, epoch) for p in positions]

  def steps(self, start_step: int = 0):
    """The step numbers to run from `start_step`: forever when training, else to the end."""
    if self.train:
      return itertools.count(start_step)
    return iter(range(start_step, self.steps_per_epoch))
