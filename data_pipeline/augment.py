"""The published training augmentation, drawn once per clip.

Order and distributions as the published dataset code draws them: half-body (probability 0.3
when more than 8 joints are visible), scale clip(1 + 0.35 N(0,1), 0.65, 1.35), rotation
clip(45 N(0,1), -90, 90) with probability 0.6, horizontal flip with probability 0.5. One
`ClipAugmentation` crops the key frame and every supporting frame, so the clip stays aligned.
All randomness comes from the `numpy.random.Generator` the caller derives from
(seed, epoch, sample index).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_pipeline.settings import DataSettings


@dataclasses.dataclass(frozen=True)
class ClipAugmentation:
  """The crop of one clip, in the coordinates of the unflipped image."""
  center: np.ndarray   # [2] float32
  scale: np.ndarray    # [2] float32, units of pixel_std
  rotation: float      # degrees
  flip: bool
  half_body: bool = False


def no_augmentation(center, scale) -> ClipAugmentation:
  return ClipAugmentation(center=np.asarray(center, np.float32),
                          scale=np.asarray(scale, np.float32), rotation=0.0, flip=False)


def half_body_box(joints: np.ndarray, rng: np.random.Generator, settings: DataSettings):
  """Centre/scale around the upper or the lower body's visible joints, or None.

  Upper body when N(0,1) < half_body_upper_threshold and it has more than 2 visible joints;
  otherwise the lower body if it has more than 2, else the upper. The centre is the mean of
  the chosen joints, the box their extent at the input aspect ratio, times half_body_scale.
  """
  visible = joints[:, 2] > 0
  upper_ids = np.zeros(len(joints), bool)
  upper_ids[list(settings.upper_body_joints)] = True
  upper = joints[visible & upper_ids, :2]
  lower = joints[visible & ~upper_ids, :2]
  if rng.standard_normal() < settings.half_body_upper_threshold and len(upper) > 2:
    chosen = upper
  else:
    chosen = lower if len(lower) > 2 else upper
  if len(chosen) < 2:
    return None
  chosen = chosen.astype(np.float32)
  center = chosen.mean(axis=0)
  w, h = chosen.max(axis=0) - chosen.min(axis=0)
  aspect = settings.aspect_ratio
  if w > aspect * h:
    h = w / aspect
  elif w < aspect * h:
    w = h * aspect
  scale = np.array([w / settings.pixel_std, h / settings.pixel_std], np.float32)
  return center.astype(np.float32), scale * settings.half_body_scale


def draw_augmentation(rng: np.random.Generator, center, scale, joints: np.ndarray | None,
                      settings: DataSettings) -> ClipAugmentation:
  """Draws the clip's augmentation (the published order of draws).

  Args:
    rng: the sample's generator.
    center, scale: the key frame's box crop ([2] each).
    joints: [K, 3] key-frame joints (x, y, visible) or None (no half-body then).
    settings: the data settings.
  """
  center = np.asarray(center, np.float32)
  scale = np.asarray(scale, np.float32)
  half_body = False
  if (joints is not None and np.sum(joints[:, 2] > 0) > settings.half_body_min_joints
      and rng.random() < settings.half_body_prob):
    box = half_body_box(joints, rng, settings)
    if box is not None:
      center, scale = box
      half_body = True
  low, high = settings.scale_clip
  scale = scale * np.float32(np.clip(rng.standard_normal() * settings.scale_factor + 1, low, high))
  rotation = 0.0
  if rng.random() <= settings.rotation_prob:
    rotation = float(np.clip(rng.standard_normal() * settings.rotation_factor,
                             -settings.rotation_clip, settings.rotation_clip))
  flip = bool(rng.random() <= settings.flip_prob)
  return ClipAugmentation(center=center, scale=scale.astype(np.float32), rotation=rotation,
                          flip=flip, half_body=half_body)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
  """The generator of one sample in one epoch: the same for every loader and worker count.

  Philox keyed by the seed; (epoch, index) sit in the counter's high words, so the streams of
  different samples never overlap (draws advance the low word).
  """
  return np.random.Generator(np.random.Philox(key=seed & (2**64 - 1),
                                              counter=[0, 0, epoch, index]))
