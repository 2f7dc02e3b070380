"""Smooth pose sequences: walking, running, waving, dancing, exercising, idling.

Every action returns a `skeleton.Pose` whose fields are [T] (and [T, 2] for left/right) arrays.
Motion is smooth at the frame rate (joint angles change by a few degrees per frame), so that
neighbouring frames carry information about the key frame, and varied enough that a network
has to see the figure to find its joints.
"""

from __future__ import annotations

import math

import numpy as np

from data_pipeline.synthetic.skeleton import Pose

ACTIONS = ('walk', 'dance', 'wave', 'exercise', 'idle')
ACTION_PROBS = (0.35, 0.25, 0.12, 0.13, 0.15)


def smooth(rng: np.random.Generator, num_frames: int, low: float, high: float,
           freq=(0.015, 0.06), size=()) -> np.ndarray:
  """A smooth random signal in [low, high]: a random level plus a few slow sinusoids.

  Returns:
    [T, *size] float64.
  """
  t = np.arange(num_frames, dtype=np.float64).reshape((-1,) + (1,) * len(size))
  mid = rng.uniform(low, high, size)
  half = 0.5 * (high - low) * rng.uniform(0.3, 1.0, size)
  wave = np.zeros((num_frames,) + tuple(size))
  weights = rng.uniform(0.3, 1.0, (3,) + tuple(size))
  for k in range(3):
    f = rng.uniform(freq[0], freq[1], size)
    phase = rng.uniform(0, 2 * math.pi, size)
    wave = wave + weights[k] * np.sin(2 * math.pi * f * t + phase)
  wave = wave / weights.sum(0)
  return np.clip(mid + 2.0 * half * wave, low, high)


def _pose(num_frames: int, **fields) -> Pose:
  """A Pose with every unspecified field at rest, broadcast to [T] / [T, 2]."""
  scalars = ('x', 'ground', 'height', 'yaw', 'lean', 'bend', 'head_tilt', 'head_yaw')
  out = {}
  for name in Pose.__dataclass_fields__:
    shape = (num_frames,) if name in scalars else (num_frames, 2)
    value = fields.pop(name, 0.0)
    out[name] = np.broadcast_to(np.asarray(value, np.float64), shape).copy()
  if fields:
    raise TypeError(f'unknown pose fields {sorted(fields)}')
  return Pose(**out)


def _idle_limbs(rng, T, arm_abduction=(0.05, 0.45), arm_flexion=(-0.2, 0.7),
                elbow=(0.1, 1.5)):
  return dict(
      arm_abduction=smooth(rng, T, *arm_abduction, size=(2,)),
      arm_flexion=smooth(rng, T, *arm_flexion, size=(2,)),
      elbow=smooth(rng, T, *elbow, size=(2,)),
      forearm_abduction=smooth(rng, T, -0.2, 0.2, size=(2,)),
      leg_abduction=smooth(rng, T, 0.0, 0.12, size=(2,)),
      leg_flexion=smooth(rng, T, -0.1, 0.25, size=(2,)),
      knee=smooth(rng, T, 0.0, 0.35, size=(2,)))


def _body_sway(rng, T, yaw_center, yaw_range=0.3):
  return dict(
      yaw=yaw_center + smooth(rng, T, -yaw_range, yaw_range, freq=(0.005, 0.02)),
      lean=smooth(rng, T, -0.08, 0.08),
      bend=smooth(rng, T, 0.0, 0.12),
      head_tilt=smooth(rng, T, -0.15, 0.15))


def walk(rng, T, *, height, ground, direction, x_at, t_at, run=False) -> Pose:
  """Walking (or running) sideways across the view, passing `x_at` at frame `t_at`."""
  yaw = direction * (math.pi / 2 + rng.uniform(-0.7, 0.5))
  cadence = rng.uniform(0.05, 0.08) if run else rng.uniform(0.025, 0.05)   # cycles / frame
  stride = rng.uniform(1.0, 1.3) if run else rng.uniform(0.7, 0.9)        # heights / cycle
  speed = stride * cadence * height * abs(math.sin(yaw))
  t = np.arange(T, dtype=np.float64)
  phase = rng.uniform(0, 2 * math.pi) + 2 * math.pi * cadence * t
  swing = rng.uniform(0.5, 0.7) if run else rng.uniform(0.3, 0.45)
  knee_amp = rng.uniform(1.2, 1.6) if run else rng.uniform(0.5, 0.9)
  arm_swing = rng.uniform(0.5, 0.9) if run else rng.uniform(0.25, 0.5)
  legs = np.stack([phase, phase + math.pi], axis=1)
  return _pose(
      T, x=x_at + direction * speed * (t - t_at), ground=ground, height=height,
      yaw=yaw + smooth(rng, T, -0.1, 0.1), lean=smooth(rng, T, -0.05, 0.05),
      bend=(0.25 if run else 0.05) + smooth(rng, T, -0.03, 0.03),
      head_tilt=smooth(rng, T, -0.1, 0.1),
      head_yaw=yaw + smooth(rng, T, -0.4, 0.4, freq=(0.005, 0.03)),
      leg_flexion=0.1 + swing * np.sin(legs),
      knee=0.1 + knee_amp * ((0.5 + 0.5 * np.cos(legs - 0.3)) ** 2),
      leg_abduction=rng.uniform(0.0, 0.06),
      arm_flexion=arm_swing * np.sin(legs + math.pi),
      arm_abduction=rng.uniform(0.05, 0.2, 2),
      elbow=(rng.uniform(1.2, 1.6) if run else rng.uniform(0.15, 0.5))
      + 0.2 * (0.5 + 0.5 * np.sin(legs + math.pi)),
      forearm_abduction=0.0)


def wave(rng, T, *, height, ground, x) -> Pose:
  """Standing and waving one or both arms overhead."""
  yaw = (math.pi if rng.random() < 0.15 else 0.0) + rng.uniform(-0.7, 0.7)
  limbs = _idle_limbs(rng, T)
  arms = [0] if rng.random() < 0.5 else [1]
  if rng.random() < 0.3:
    arms = [0, 1]
  t = np.arange(T, dtype=np.float64)
  freq = rng.uniform(0.04, 0.09)
  for side in arms:
    limbs['arm_abduction'][:, side] = rng.uniform(1.9, 2.6) + 0.15 * np.sin(
        2 * math.pi * freq * 0.5 * t)
    limbs['arm_flexion'][:, side] = rng.uniform(-0.2, 0.3)
    limbs['elbow'][:, side] = rng.uniform(0.2, 0.6)
    limbs['forearm_abduction'][:, side] = 0.6 * np.sin(
        2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
  return _pose(T, x=x + smooth(rng, T, -0.05, 0.05) * height, ground=ground, height=height,
               head_yaw=yaw + smooth(rng, T, -0.3, 0.3), **_body_sway(rng, T, yaw), **limbs)


def dance(rng, T, *, height, ground, x) -> Pose:
  """Every joint angle a smooth random signal over a wide range; the body turns."""
  yaw0 = rng.uniform(-math.pi, math.pi)
  yaw = yaw0 + smooth(rng, T, -1.2, 1.2, freq=(0.005, 0.03))
  return _pose(
      T, x=x + smooth(rng, T, -0.15, 0.15, freq=(0.005, 0.02)) * height,
      ground=ground, height=height, yaw=yaw,
      lean=smooth(rng, T, -0.25, 0.25), bend=smooth(rng, T, 0.0, 0.4),
      head_tilt=smooth(rng, T, -0.25, 0.25), head_yaw=yaw + smooth(rng, T, -0.4, 0.4),
      arm_abduction=smooth(rng, T, 0.0, 2.6, size=(2,)),
      arm_flexion=smooth(rng, T, -0.6, 2.2, size=(2,)),
      elbow=smooth(rng, T, 0.0, 2.2, size=(2,)),
      forearm_abduction=smooth(rng, T, -0.5, 0.5, size=(2,)),
      leg_abduction=smooth(rng, T, 0.0, 0.5, size=(2,)),
      leg_flexion=smooth(rng, T, -0.3, 1.2, size=(2,)),
      knee=smooth(rng, T, 0.0, 1.5, size=(2,)))


def exercise(rng, T, *, height, ground, x) -> Pose:
  """Jumping jacks, squats or high knees, periodic."""
  kind = rng.choice(['jacks', 'squat', 'knees'])
  yaw = rng.uniform(-0.5, 0.5) + (math.pi / 2 * rng.choice([-1, 1]) if kind == 'squat'
                                  and rng.random() < 0.5 else 0.0)
  t = np.arange(T, dtype=np.float64)
  freq = rng.uniform(0.03, 0.06)
  c = 0.5 - 0.5 * np.cos(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))   # 0..1
  c2 = np.stack([c, c], axis=1)
  fields = dict(_body_sway(rng, T, yaw, 0.15))
  fields.update(_idle_limbs(rng, T))
  jump = 0.0
  if kind == 'jacks':
    fields.update(arm_abduction=0.2 + 2.6 * c2, leg_abduction=0.05 + 0.35 * c2,
                  elbow=0.2 + 0.2 * c2, arm_flexion=0.1 * c2, knee=0.1 * c2,
                  leg_flexion=0.05 * c2)
    jump = 0.06 * height * np.sin(math.pi * c)
  elif kind == 'squat':
    fields.update(knee=1.8 * c2, leg_flexion=1.3 * c2, arm_flexion=0.2 + 1.3 * c2,
                  elbow=0.2 * c2, arm_abduction=0.1 + 0.1 * c2, leg_abduction=0.12)
    fields['bend'] = fields['bend'] + 0.35 * c
  else:
    alt = 0.5 - 0.5 * np.cos(2 * math.pi * freq * t[:, None] + np.array([0.0, math.pi]))
    fields.update(leg_flexion=1.4 * alt, knee=1.6 * alt, arm_flexion=1.2 * alt[:, ::-1],
                  elbow=1.2 + 0.3 * alt)
  return _pose(T, x=x + smooth(rng, T, -0.05, 0.05) * height, ground=ground - jump,
               height=height, head_yaw=yaw + smooth(rng, T, -0.2, 0.2), **fields)


def idle(rng, T, *, height, ground, x) -> Pose:
  """Standing, shifting weight, arms moving a little (crossing, hands on hips...)."""
  yaw = rng.uniform(-math.pi, math.pi)
  return _pose(T, x=x + smooth(rng, T, -0.08, 0.08) * height, ground=ground, height=height,
               head_yaw=yaw + smooth(rng, T, -0.5, 0.5), **_body_sway(rng, T, yaw, 0.4),
               **_idle_limbs(rng, T, arm_abduction=(0.05, 0.9), arm_flexion=(-0.3, 1.2),
                             elbow=(0.1, 2.2)))
