"""Drawing: figures with clothes and left/right-distinct limbs, occluders, motion blur, noise.

Every draw call paints the colour image and an "owner" map ([H, W] uint8: 0 background,
k for the k-th annotated person, `OCCLUDER` for foreground objects) with the same geometry,
so that joint visibility is read from exactly what was drawn. Coordinates are sub-pixel
(OpenCV fixed point with `_SHIFT` fractional bits), so slow motion moves smoothly.

Left and right must be told apart from the picture alone (a tiny network sees 128x96 crops):
every left limb is tinted red and every right limb blue. The cue is absolute (not "the lighter
of the two"), because a tiny network learns a fixed hue in minutes, whereas with a relative
shade and stripes it stayed near chance on left/right in a 1,100-step CPU run. Mirroring an image
swaps the labels but not the tints, so horizontal-flip augmentation would contradict this cue: the
synthetic configs turn it off. The face (eyes, nose) shows which way the head turns; the back of
the head is hair.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import cv2
import numpy as np

from data_pipeline.synthetic.skeleton import Figure

OCCLUDER = 255
_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclasses.dataclass(frozen=True)
class Appearance:
  """A person's colours (BGR) and clothes."""
  skin: tuple
  hair: tuple
  shirt: tuple
  trousers: tuple
  shoe: tuple
  sleeves: str          # 'long' | 'short' | 'none'
  shorts: bool

  def material_colour(self, material: str) -> tuple:
    """The base colour of a part's material (before the left/right shade)."""
    if material == 'sleeve':
      material = 'skin' if self.sleeves == 'none' else 'shirt'
    elif material == 'forearm':
      material = 'shirt' if self.sleeves == 'long' else 'skin'
    elif material == 'shin':
      material = 'skin' if self.shorts else 'trousers'
    if material == 'eye':
      return (30, 25, 20)
    if material == 'nose':
      return _shade(self.skin, 0.7)
    return getattr(self, material)


def _shade(colour, factor: float) -> tuple:
  """factor < 1 darkens, > 1 blends towards white by (factor - 1)."""
  c = np.asarray(colour, np.float64)
  if factor <= 1:
    c = c * factor
  else:
    c = c + (255 - c) * min(factor - 1, 1.0)
  return tuple(int(round(v)) for v in np.clip(c, 0, 255))


def random_colour(rng, hue=(0, 180), sat=(60, 220), val=(60, 230)) -> tuple:
  hsv = np.array([[[rng.integers(*hue), rng.integers(*sat), rng.integers(*val)]]], np.uint8)
  return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def sample_appearance(rng: np.random.Generator) -> Appearance:
  skin_tones = ((200, 220, 245), (160, 190, 230), (120, 160, 210), (90, 130, 180),
                (60, 90, 140), (45, 65, 100))
  skin = skin_tones[rng.integers(len(skin_tones))]
  skin = tuple(int(np.clip(v + rng.integers(-12, 13), 0, 255)) for v in skin)
  hair_tones = ((20, 20, 25), (30, 45, 70), (40, 70, 110), (90, 150, 200), (160, 160, 165))
  hair = hair_tones[rng.integers(len(hair_tones))]
  shirt = random_colour(rng)
  trousers = random_colour(rng, sat=(30, 200), val=(40, 180))
  if np.abs(np.subtract(shirt, trousers)).sum() < 90:     # keep torso and legs apart
    trousers = _shade(trousers, 0.45) if sum(shirt) > 300 else _shade(trousers, 1.6)
  return Appearance(
      skin=skin, hair=hair, shirt=shirt, trousers=trousers,
      shoe=random_colour(rng, sat=(0, 120), val=(20, 120)),
      sleeves=str(rng.choice(['long', 'short', 'none'], p=[0.5, 0.35, 0.15])),
      shorts=bool(rng.random() < 0.25))


def _fixed(points) -> np.ndarray:
  return np.round(np.asarray(points, np.float64) * _ONE).astype(np.int32)


def _pt(p) -> tuple:
  return (int(round(p[0] * _ONE)), int(round(p[1] * _ONE)))


def _thickness(width: float) -> int:
  return max(1, int(round(width)))


def _capsule(images, values, p0, p1, width, line_types):
  for image, value, line_type in zip(images, values, line_types):
    cv2.line(image, _pt(p0), _pt(p1), value, _thickness(width), line_type, _SHIFT)


# BGR tints of left (red) and right (blue) limbs, and how much of a limb's colour they set.
SIDE_TINTS = ((40.0, 40.0, 230.0), (230.0, 120.0, 30.0))
SIDE_TINT_WEIGHT = 0.6


@functools.lru_cache(maxsize=4096)
def _part_colour(appearance: Appearance, material: str, side: int | None):
  """The fill colour of a part: left limbs tinted red, right limbs blue."""
  base = appearance.material_colour(material)
  if side is None or material == 'shoe':
    return base
  tinted = ((1.0 - SIDE_TINT_WEIGHT) * np.asarray(base, np.float64)
            + SIDE_TINT_WEIGHT * np.asarray(SIDE_TINTS[side]))
  return tuple(float(c) for c in tinted)


def draw_figure(image: np.ndarray, owner: np.ndarray | None, figure: Figure,
                appearance: Appearance, owner_id: int = 0):
  """Paint `figure` onto image [H, W, 3] uint8 (and `owner_id` into owner [H, W] uint8)."""
  for part in figure.parts:
    colour = _part_colour(appearance, part.material, part.side)
    images, values, types = [image], [colour], [cv2.LINE_AA]
    if owner is not None:
      images.append(owner)
      values.append(int(owner_id))
      types.append(cv2.LINE_8)
    if part.kind == 'capsule':
      _capsule(images, values, part.points[0], part.points[1], part.width, types)
    elif part.kind == 'disc':
      for img, value, line_type in zip(images, values, types):
        cv2.circle(img, _pt(part.points[0]), int(round(part.width / 2 * _ONE)), value, -1,
                   line_type, _SHIFT)
    elif part.kind == 'ellipse':
      axes = (max(1, int(round(part.axes[0] * _ONE))), max(1, int(round(part.axes[1] * _ONE))))
      for img, value, line_type in zip(images, values, types):
        cv2.ellipse(img, _pt(part.points[0]), axes, part.angle, 0, 360, value, -1, line_type,
                    _SHIFT)
    elif part.kind == 'polygon':
      for img, value, line_type in zip(images, values, types):
        cv2.fillConvexPoly(img, _fixed(part.points), value, line_type, _SHIFT)
    else:
      raise ValueError(f'unknown part kind {part.kind!r}')


@dataclasses.dataclass(frozen=True)
class Occluder:
  """A foreground object, drawn over everyone.

  kind: 'bar' / 'crate' (rectangle size = (w, h)), 'ball' (size[0] = radius) or 'bush'
  (blobs: [N, 3] offsets x, y and radius). positions: [T, 2] centre per frame, world pixels.
  pattern: 'plain', 'stripes' or 'checker'.
  """
  kind: str
  size: tuple
  colour: tuple
  pattern: str
  positions: np.ndarray
  blobs: np.ndarray | None = None


def _occluder_extent(occ: Occluder, cx: float, cy: float) -> tuple[float, float, float, float]:
  if occ.kind in ('bar', 'crate'):
    w, h = occ.size
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
  if occ.kind == 'ball':
    r = occ.size[0]
    return cx - r, cy - r, cx + r, cy + r
  if occ.kind == 'bush':
    dx, dy, r = occ.blobs.T
    return (cx + (dx - r).min(), cy + (dy - r).min(), cx + (dx + r).max(), cy + (dy + r).max())
  raise ValueError(f'unknown occluder kind {occ.kind!r}')


def draw_occluder(image: np.ndarray, owner: np.ndarray | None, occ: Occluder, center):
  """Paint one occluder centred at `center` (image pixels)."""
  h, w = image.shape[:2]
  cx, cy = float(center[0]), float(center[1])
  ex0, ey0, ex1, ey1 = _occluder_extent(occ, cx, cy)
  x0, y0 = max(int(math.floor(ex0)) - 1, 0), max(int(math.floor(ey0)) - 1, 0)
  x1, y1 = min(int(math.ceil(ex1)) + 2, w), min(int(math.ceil(ey1)) + 2, h)
  if x1 <= x0 or y1 <= y0:
    return
  cx, cy = cx - x0, cy - y0     # draw in the window's coordinates
  mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
  if occ.kind in ('bar', 'crate'):
    ow, oh = occ.size
    corners = np.array([[cx - ow / 2, cy - oh / 2], [cx + ow / 2, cy - oh / 2],
                        [cx + ow / 2, cy + oh / 2], [cx - ow / 2, cy + oh / 2]])
    cv2.fillConvexPoly(mask, _fixed(corners), 255, cv2.LINE_AA, _SHIFT)
  elif occ.kind == 'ball':
    cv2.circle(mask, _pt((cx, cy)), int(round(occ.size[0] * _ONE)), 255, -1, cv2.LINE_AA,
               _SHIFT)
  else:
    for dx, dy, r in occ.blobs:
      cv2.circle(mask, _pt((cx + dx, cy + dy)), int(round(r * _ONE)), 255, -1, cv2.LINE_AA,
                 _SHIFT)
  fill = np.empty(mask.shape + (3,), np.float32)
  fill[:] = occ.colour
  gy, gx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
  if occ.pattern == 'stripes':
    band = (((gx - cx) + (gy - cy)) // max(2.0, 0.25 * occ.size[0])) % 2 == 0
    fill[band] *= 0.6
  elif occ.pattern == 'checker':
    cell = max(2.0, 0.2 * occ.size[0])
    fill[((gx - cx) // cell + (gy - cy) // cell) % 2 == 0] *= 0.7
  alpha = mask[..., None].astype(np.float32) / 255.0
  region = image[y0:y1, x0:x1].astype(np.float32)
  image[y0:y1, x0:x1] = np.round(region * (1 - alpha) + fill * alpha).astype(np.uint8)
  if owner is not None:
    owner[y0:y1, x0:x1][mask >= 128] = OCCLUDER


def motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
  """Blur along a line of `length` pixels at `angle` radians (a camera jerk)."""
  if length < 1.5:
    return image
  size = int(math.ceil(length)) | 1
  kernel = np.zeros((size, size), np.float32)
  c = size // 2
  d = np.array([math.cos(angle), math.sin(angle)]) * (length - 1) / 2
  cv2.line(kernel, _pt((c - d[0], c - d[1])), _pt((c + d[0], c + d[1])), 1.0, 1, cv2.LINE_AA,
           _SHIFT)
  kernel /= kernel.sum()
  return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


NOISE_MARGIN = 32


def noise_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
  """Unit Gaussian noise [height + NOISE_MARGIN, width + NOISE_MARGIN, 3] float32; each frame
  takes a randomly shifted window (drawing fresh normals per frame costs more than drawing)."""
  return rng.standard_normal((height + NOISE_MARGIN, width + NOISE_MARGIN, 3), dtype=np.float32)


def add_noise(image: np.ndarray, field: np.ndarray, shift, std: float, gain: float
              ) -> np.ndarray:
  """Brightness gain plus the window of `field` at `shift` (dy, dx) times `std`, as uint8."""
  h, w = image.shape[:2]
  dy, dx = int(shift[0]), int(shift[1])
  out = image.astype(np.float32) * np.float32(gain)
  out += field[dy:dy + h, dx:dx + w] * np.float32(std)
  np.maximum(out, 0, out=out)
  return cv2.convertScaleAbs(out)     # rounds and saturates at 255
