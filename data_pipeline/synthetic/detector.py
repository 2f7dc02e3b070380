"""A simulated person detector: the val "precomputed boxes" made from the ground truth.

Imitates what a real detector gives a top-down pose pipeline: jittered boxes (mostly tight,
sometimes sloppy), misses that grow with occlusion and truncation, false positives on the
background, and scores in (0, 1] that follow box quality and visibility, so that some true
persons score below the usual 0.2 threshold and some false boxes above it.
"""

from __future__ import annotations

import numpy as np

_JITTER = (0.03, 0.07, 0.15)          # box side noise, fraction of the box size
_JITTER_PROBS = (0.65, 0.25, 0.10)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
  """IoU of two x1, y1, x2, y2 boxes."""
  iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = iw * ih
  union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
  return inter / union if union > 0 else 0.0


def _to_xywh(box: np.ndarray) -> list:
  return [round(float(box[0]), 2), round(float(box[1]), 2),
          round(float(box[2] - box[0]), 2), round(float(box[3] - box[1]), 2)]


def _score(value: float) -> float:
  return round(float(np.clip(value, 0.0001, 1.0)), 4)


def detect_frame(rng: np.random.Generator, visible_persons: list, width: int, height: int,
                 miss_rate: float, false_positives: float) -> tuple[list, dict]:
  """Detections of one frame.

  Args:
    rng: the video's detection generator (consumed in frame order).
    visible_persons: (box x1 y1 x2 y2 inside the image, visible fraction, annotated) per person.
    width, height: image size.
    miss_rate: base chance of missing a fully visible person.
    false_positives: mean number of background boxes.

  Returns:
    ([(bbox [x, y, w, h], score)] sorted by score, highest first; counts of 'true', 'missed',
    'false').
  """
  out = []
  counts = {'true': 0, 'missed': 0, 'false': 0}
  for box, visible, _ in visible_persons:
    if rng.random() < miss_rate + 0.6 * (1.0 - visible) ** 2:
      counts['missed'] += 1
      continue
    size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
    sigma = _JITTER[rng.choice(len(_JITTER), p=_JITTER_PROBS)]
    noisy = box + rng.normal(0, sigma, 4) * size
    noisy = np.clip(noisy, 0, [width, height, width, height])
    if noisy[2] - noisy[0] < 2 or noisy[3] - noisy[1] < 2:
      counts['missed'] += 1
      continue
    quality = _iou(noisy, box) ** 1.5 * (0.55 + 0.45 * visible)
    out.append((_to_xywh(noisy), _score(quality * rng.uniform(0.85, 1.05)
                                        + rng.normal(0, 0.03))))
    counts['true'] += 1
  for _ in range(rng.poisson(false_positives)):
    for _attempt in range(10):
      h = rng.uniform(0.15, 0.6) * height
      w = h * rng.uniform(0.3, 0.7)
      x, y = rng.uniform(0, width - w), rng.uniform(0, max(height - h, 1))
      box = np.array([x, y, x + w, y + h])
      if all(_iou(box, other) < 0.2 for other, _, _ in visible_persons):
        out.append((_to_xywh(box), _score(0.01 + 0.9 * rng.beta(1.3, 7.0))))
        counts['false'] += 1
        break
  out.sort(key=lambda item: -item[1])
  return out, counts
