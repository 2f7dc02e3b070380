"""Procedural background plates: outdoor streets, indoor rooms and cluttered abstract scenes.

No photographs (the package depends on numpy and OpenCV only). Texture comes from multi-octave
value noise; clutter includes limb-like sticks and blobs in random colours, so that "anything
that is not background" is not a shortcut to finding people.
"""

from __future__ import annotations

import cv2
import numpy as np

from data_pipeline.synthetic.render import random_colour

STYLES = ('street', 'room', 'clutter')


def value_noise(rng: np.random.Generator, height: int, width: int, cell: float,
                octaves: int = 3) -> np.ndarray:
  """Smooth noise in [0, 1], [height, width] float32, features about `cell` pixels wide."""
  out = np.zeros((height, width), np.float32)
  total = 0.0
  amplitude = 1.0
  for _ in range(octaves):
    gh = max(2, int(height / cell) + 2)
    gw = max(2, int(width / cell) + 2)
    grid = rng.random((gh, gw), dtype=np.float32)
    out += amplitude * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    total += amplitude
    amplitude *= 0.5
    cell = max(2.0, cell / 2)
  out /= total
  lo, hi = float(out.min()), float(out.max())
  return (out - lo) / max(hi - lo, 1e-6)


def _textured(rng, height, width, colour, cell, strength) -> np.ndarray:
  noise = value_noise(rng, height, width, cell)[..., None]
  base = np.asarray(colour, np.float32)
  return base * (1 - strength + 2 * strength * noise)


def _street(rng, h, w, unit):
  horizon = int(h * rng.uniform(0.25, 0.55))
  img = np.empty((h, w, 3), np.float32)
  top, bottom = np.array(random_colour(rng, (90, 130), (30, 160), (150, 250)), np.float32), \
      np.array(random_colour(rng, (90, 130), (10, 80), (180, 255)), np.float32)
  ramp = np.linspace(0, 1, horizon, dtype=np.float32)[:, None, None]
  img[:horizon] = top * (1 - ramp) + bottom * ramp
  ground = random_colour(rng, (0, 180), (0, 120), (60, 170))
  img[horizon:] = _textured(rng, h - horizon, w, ground, 12 * unit, 0.25)
  # Buildings with window grids along the horizon.
  x = -rng.uniform(0, 40 * unit)
  while x < w:
    bw = rng.uniform(40, 140) * unit
    bh = rng.uniform(0.2, 0.9) * horizon + 10 * unit
    colour = np.array(random_colour(rng, sat=(0, 90), val=(70, 210)), np.float32)
    x0, x1 = int(max(x, 0)), int(min(x + bw, w))
    y0 = int(max(horizon - bh, 0))
    if x1 > x0:
      img[y0:horizon, x0:x1] = _textured(rng, horizon - y0, x1 - x0, colour, 6 * unit, 0.12)
      win = np.array(random_colour(rng, sat=(0, 80), val=(40, 250)), np.float32)
      step = rng.uniform(10, 18) * unit
      for wy in np.arange(y0 + step / 2, horizon - step / 2, step):
        for wx in np.arange(x0 + step / 3, x1 - step / 2, step):
          cv2.rectangle(img, (int(wx), int(wy)), (int(wx + step / 2), int(wy + step / 2)),
                        tuple(float(v) for v in win), -1)
    x += bw + rng.uniform(0, 30) * unit
  # Road markings / kerb lines converging a little.
  for _ in range(rng.integers(1, 4)):
    y = int(rng.uniform(horizon, h))
    cv2.line(img, (0, y), (w, int(y + rng.uniform(-20, 20) * unit)),
             tuple(float(v) for v in random_colour(rng, sat=(0, 60), val=(150, 255))),
             max(1, int(rng.uniform(1, 4) * unit)))
  return img


def _room(rng, h, w, unit):
  floor_y = int(h * rng.uniform(0.45, 0.7))
  img = np.empty((h, w, 3), np.float32)
  img[:floor_y] = _textured(rng, floor_y, w, random_colour(rng, sat=(0, 90), val=(110, 230)),
                            30 * unit, 0.12)
  floor = _textured(rng, h - floor_y, w, random_colour(rng, sat=(20, 140), val=(60, 190)),
                    8 * unit, 0.2)
  tile = int(rng.uniform(14, 40) * unit)
  line = np.array(random_colour(rng, sat=(0, 50), val=(30, 120)), np.float32)
  floor[::tile] = line
  floor[:, ::tile] = line
  img[floor_y:] = floor
  for _ in range(rng.integers(2, 6)):   # windows, doors, pictures, shelves
    rw, rh = rng.uniform(20, 120) * unit, rng.uniform(20, 0.9 * floor_y)
    rx, ry = rng.uniform(-10, w), rng.uniform(0, max(1, floor_y - rh))
    colour = tuple(float(v) for v in random_colour(rng))
    cv2.rectangle(img, (int(rx), int(ry)), (int(rx + rw), int(ry + rh)), colour, -1)
    cv2.rectangle(img, (int(rx), int(ry)), (int(rx + rw), int(ry + rh)),
                  tuple(0.5 * c for c in colour), max(1, int(2 * unit)))
  return img


def _clutter(rng, h, w, unit):
  img = _textured(rng, h, w, random_colour(rng, sat=(0, 200), val=(60, 220)), 40 * unit, 0.35)
  for _ in range(rng.integers(6, 16)):
    colour = tuple(float(v) for v in random_colour(rng))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = rng.uniform(8, 50) * unit
    if rng.random() < 0.5:
      cv2.circle(img, (int(cx), int(cy)), int(r), colour, -1, cv2.LINE_AA)
    else:
      cv2.rectangle(img, (int(cx - r), int(cy - r / 2)), (int(cx + r), int(cy + r / 2)),
                    colour, -1)
  return img


def _sticks(rng, img, unit, count):
  """Limb-like distractors: thick capsules and small discs in random colours."""
  h, w = img.shape[:2]
  for _ in range(count):
    colour = tuple(float(v) for v in random_colour(rng))
    x, y = rng.uniform(0, w), rng.uniform(0, h)
    length = rng.uniform(10, 45) * unit
    angle = rng.uniform(0, np.pi)
    x2, y2 = x + length * np.cos(angle), y + length * np.sin(angle)
    cv2.line(img, (int(x), int(y)), (int(x2), int(y2)), colour,
             max(1, int(rng.uniform(3, 10) * unit)), cv2.LINE_AA)
    if rng.random() < 0.4:
      cv2.circle(img, (int(x2), int(y2)), max(1, int(rng.uniform(3, 8) * unit)),
                 tuple(float(v) for v in random_colour(rng)), -1, cv2.LINE_AA)


def background_plate(rng: np.random.Generator, height: int, width: int, unit: float
                     ) -> np.ndarray:
  """A background image [height, width, 3] uint8 (BGR) in a random style."""
  style = STYLES[rng.integers(len(STYLES))]
  img = {'street': _street, 'room': _room, 'clutter': _clutter}[style](rng, height, width, unit)
  _sticks(rng, img, unit, int(rng.integers(2, 9) * width / (520 * unit)))
  tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)    # white balance of the "camera"
  img = img * tint
  img = cv2.GaussianBlur(img, (0, 0), 0.6 * unit)
  return np.clip(np.round(img), 0, 255).astype(np.uint8)
