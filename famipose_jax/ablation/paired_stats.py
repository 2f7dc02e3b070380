"""Mean and spread over seeds, and paired differences from the reference with a t interval.

Each seed trains every variant on the same stage-1 backbone and data order, so a variant's
difference from the reference is taken seed by seed (paired) before averaging; that removes the
seed's shared luck from the comparison. With n seeds the 95% interval of the mean difference is
mean +- t(0.975, n-1) * sd / sqrt(n): with 3 seeds t = 4.30, so only differences several times
the seed-to-seed spread of the differences count as real.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


def spread(values) -> dict[str, float]:
  """{'mean', 'sd' (sample, ddof=1; 0 for one value), 'min', 'max', 'n'} of per-seed values."""
  x = np.asarray(values, np.float64)
  return {'mean': float(x.mean()), 'sd': float(x.std(ddof=1)) if len(x) > 1 else 0.0,
          'min': float(x.min()), 'max': float(x.max()), 'n': int(len(x))}


def paired_difference(values, reference) -> dict[str, float | bool | None]:
  """The variant minus the reference, seed by seed, and the 95% t interval of its mean.

  Returns:
    {'mean', 'sd', 'low', 'high', 'n', 'clear'}: clear is True when the interval excludes 0
    (the difference exceeds what the seeds' spread explains); low/high/clear are None with
    fewer than 2 paired seeds.
  """
  d = np.asarray(values, np.float64) - np.asarray(reference, np.float64)
  n = len(d)
  if n < 2:
    return {'mean': float(d.mean()), 'sd': 0.0, 'low': None, 'high': None, 'n': n,
            'clear': None}
  sd = float(d.std(ddof=1))
  half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
  mean = float(d.mean())
  return {'mean': mean, 'sd': sd, 'low': mean - half, 'high': mean + half, 'n': n,
          'clear': bool(mean - half > 0 or mean + half < 0)}
