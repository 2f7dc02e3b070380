"""One video: who is in it and how they move, the camera, occluders, blur; and its frames.

`plan_video` draws every random choice of a video up front from the video's own seed stream,
so a video is the same whatever else is generated (more videos, other settings of the
detector, other worker counts). `render_frame` turns the plan into a picture, the owner map and
each annotated-person candidate's geometry and per-joint visibility in that frame.

World coordinates are background-plate pixels shifted so that world = image at zero camera
offset; the image shows world - camera[t] (slow pans plus shake, with a jerk on blurred frames).
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from data_pipeline.synthetic import backgrounds, motion, render
from data_pipeline.synthetic.settings import DEGRADED_GAP, SPLITS, Settings
from data_pipeline.synthetic.skeleton import Body, Pose, pose_figure, sample_body

# Seed streams of a video (the last element of the seed sequence).
_PLAN_STREAM, _DETECTION_STREAM, _NOISE_STREAM, _DEGRADE_STREAM = 0, 1, 2, 3

# What a degraded frame suffers (settings.degraded_frame_share); VideoPlan.degraded holds the
# index into this tuple plus one (0: clean).
DEGRADATIONS = ('blur', 'occluder', 'corrupt')


def rng_for(settings: Settings, split: str, index: int, stream: int, *more: int
            ) -> np.random.Generator:
  """An independent, reproducible generator for one purpose of one video."""
  return np.random.default_rng([settings.seed, SPLITS.index(split), index, stream, *more])


def detection_rng(settings: Settings, split: str, index: int) -> np.random.Generator:
  return rng_for(settings, split, index, _DETECTION_STREAM)


@dataclasses.dataclass(frozen=True)
class Person:
  track_id: int
  body: Body
  appearance: render.Appearance
  poses: Pose              # [T] world coordinates
  action: str


@dataclasses.dataclass(frozen=True)
class VideoPlan:
  settings: Settings
  split: str
  index: int
  plate: np.ndarray        # [Hp, Wp, 3] uint8 background
  plate_origin: tuple      # plate pixel of world (0, 0)
  camera: np.ndarray       # [T, 2] world position of image pixel (0, 0)
  people: list             # annotated candidates, drawn in this order (far to near)
  crowd: list              # small unannotated people behind everyone
  crowd_regions: list      # [P, 2] world polygons covering the crowd at all times
  occluders: list          # render.Occluder, drawn in front of everyone
  blur: np.ndarray         # [T, 2] motion blur length (pixels) and angle
  gain: np.ndarray         # [T] brightness
  noise_std: float
  noise: np.ndarray        # render.noise_field of the video
  degraded: np.ndarray     # [T] int: 0 clean, else 1 + index into DEGRADATIONS
  corrupt_rows: np.ndarray  # [T, 2] first and end row of a corrupted band (0, 0: none)

  @property
  def num_frames(self) -> int:
    return len(self.camera)


@dataclasses.dataclass(frozen=True)
class PersonState:
  """One annotated-person candidate in one rendered frame (image pixels).

  visible: [17] joint inside the image and not covered by anything in front of the person
  (self-occlusion does not hide a joint: annotators infer it from the body).
  """
  track_id: int
  joints: np.ndarray       # [17, 2]
  inside: np.ndarray       # [17] bool
  visible: np.ndarray      # [17] bool
  box: np.ndarray          # [4] x1, y1, x2, y2 of the whole figure (unclipped)
  head_box: np.ndarray     # [4] x1, y1, x2, y2 (unclipped)
  head_center: np.ndarray  # [2]
  hull: np.ndarray         # [N, 2] convex hull of the figure
  height: float            # standing height, pixels


def _shifted(pose: Pose, t: int, offset) -> Pose:
  p = pose.at(t)
  return dataclasses.replace(p, x=p.x - offset[0], ground=p.ground - offset[1])


def _sample_people(rng, s: Settings, T: int, count: int) -> list:
  W, H = s.width, s.height
  people = []
  for track_id in range(count):
    size = 0.28 + 0.52 * rng.beta(1.4, 1.6)                 # standing height / image height
    height = size * H
    ground = H * (0.52 + 0.5 * (size - 0.28) / 0.52 + rng.uniform(-0.04, 0.05))
    action = str(rng.choice(motion.ACTIONS, p=motion.ACTION_PROBS))
    if action == 'walk':
      direction = float(rng.choice([-1.0, 1.0]))
      mode = rng.choice(['enter', 'leave', 'cross'], p=[0.3, 0.25, 0.45])
      near, far = -0.15 * height, W + 0.15 * height
      if mode == 'enter':
        x_at, t_at = (near if direction > 0 else far), rng.uniform(0, 0.5 * T)
      elif mode == 'leave':
        x_at, t_at = (far if direction > 0 else near), rng.uniform(0.5 * T, T)
      else:
        x_at, t_at = rng.uniform(0.15, 0.85) * W, rng.uniform(0, T)
      poses = motion.walk(rng, T, height=height, ground=ground, direction=direction,
                          x_at=x_at, t_at=t_at, run=bool(rng.random() < 0.2))
    else:
      poses = getattr(motion, action)(rng, T, height=height, ground=ground,
                                      x=rng.uniform(0.08, 0.92) * W)
    people.append(Person(track_id, sample_body(rng), render.sample_appearance(rng), poses,
                         action))
  # Farther people (feet higher in the picture) are drawn first.
  return sorted(people, key=lambda p: (float(np.mean(p.poses.ground)), p.track_id))


def _sample_crowd(rng, s: Settings, T: int):
  """A group of small people somewhere in the back, and a polygon covering them throughout."""
  W, H = s.width, s.height
  cx, feet = rng.uniform(0.1, 0.9) * W, rng.uniform(0.35, 0.6) * H
  spread = rng.uniform(0.06, 0.14) * W
  crowd = []
  for _ in range(rng.integers(2, 6)):
    height = rng.uniform(0.06, 0.11) * H
    action = str(rng.choice(['idle', 'wave', 'dance']))
    poses = getattr(motion, action)(rng, T, height=height,
                                    ground=feet + rng.uniform(-0.03, 0.03) * H,
                                    x=cx + rng.uniform(-spread, spread))
    crowd.append(Person(-1, sample_body(rng), render.sample_appearance(rng), poses, action))
  crowd.sort(key=lambda p: float(np.mean(p.poses.ground)))
  points = np.concatenate([pose_figure(p.body, p.poses.at(t)).outline
                           for p in crowd for t in range(T)])
  # Grow the points by a margin (an octagon around each) before taking the hull, then keep a
  # handful of vertices, like a hand-drawn ignore region; the simplification tolerance is
  # below the margin, so the polygon still covers everyone.
  margin = 4.0 * s.unit
  angles = np.arange(8) * (math.pi / 4)
  ring = margin * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  grown = (points[:, None, :] + ring[None]).reshape(-1, 2).astype(np.float32)
  hull = cv2.convexHull(grown)
  hull = cv2.approxPolyDP(hull, 1.0 * s.unit, True)[:, 0]
  return crowd, cv2.convexHull(hull)[:, 0].astype(np.float64)


def _sample_occluders(rng, s: Settings, T: int) -> list:
  W, H = s.width, s.height
  t = np.arange(T, dtype=np.float64)[:, None]
  occluders = []
  for _ in range(rng.poisson(s.passing_occluders * T / 30.0)):
    kind = str(rng.choice(['bar', 'ball', 'panel'], p=[0.45, 0.35, 0.2]))
    t_cross = rng.uniform(0, T)
    speed = rng.uniform(0.06, 0.14) * W * rng.choice([-1.0, 1.0])
    start = np.array([rng.uniform(0.1, 0.9) * W, rng.uniform(0.25, 0.85) * H])
    velocity = np.array([speed, rng.uniform(-0.3, 0.3) * abs(speed) * (kind == 'ball')])
    colour = render.random_colour(rng)
    pattern = str(rng.choice(['plain', 'stripes', 'checker']))
    if kind == 'ball':
      size = (rng.uniform(0.025, 0.06) * H,)
    elif kind == 'bar':
      size = (rng.uniform(0.03, 0.08) * W, rng.uniform(0.5, 1.3) * H)
    else:
      kind, size = 'bar', (rng.uniform(0.12, 0.22) * W, rng.uniform(0.4, 0.9) * H)
    occluders.append(render.Occluder(kind, size, colour, pattern,
                                     start + velocity * (t - t_cross)))
  if rng.random() < s.static_occluder_prob:
    kind = str(rng.choice(['pole', 'crate', 'bush']))
    colour = render.random_colour(rng, sat=(20, 200), val=(40, 200))
    pattern = str(rng.choice(['plain', 'stripes', 'checker']))
    x = rng.uniform(0.15, 0.85) * W
    blobs = None
    if kind == 'pole':
      size = (rng.uniform(0.02, 0.05) * W, 1.2 * H)
      centre = (x, 0.5 * H)
      kind = 'bar'
    elif kind == 'crate':
      size = (rng.uniform(0.12, 0.3) * W, rng.uniform(0.15, 0.3) * H)
      centre = (x, H - 0.45 * size[1])
      kind = 'crate'
    else:
      radius = rng.uniform(0.06, 0.12) * H
      n = int(rng.integers(4, 8))
      blobs = np.stack([rng.uniform(-2.5, 2.5, n) * radius, rng.uniform(-0.6, 0.3, n) * radius,
                        rng.uniform(0.6, 1.1, n) * radius], axis=1)
      size = (radius,)
      centre = (x, H - 0.5 * radius)
      colour = render.random_colour(rng, hue=(35, 85), sat=(80, 220), val=(40, 160))
    occluders.append(render.Occluder(kind, size, colour, pattern,
                                     np.tile(np.asarray(centre, np.float64), (T, 1)), blobs))
  return occluders


def plan_video(settings: Settings, split: str, index: int) -> VideoPlan:
  """Every random choice of one video (deterministic in seed, split and index)."""
  s = settings
  rng = rng_for(s, split, index, _PLAN_STREAM)
  T, W, H, u = s.frames, s.width, s.height, s.unit

  draw = rng.random(T)
  heavy = draw < s.blur_frame_prob
  mild = ~heavy & (draw < s.blur_frame_prob + s.mild_blur_prob)
  blur = np.zeros((T, 2))
  blur[:, 1] = rng.uniform(0, math.pi, T)
  blur[heavy, 0] = rng.uniform(12, 24, int(heavy.sum())) * u
  blur[mild, 0] = rng.uniform(3, 7, int(mild.sum())) * u

  camera = np.zeros((T, 2))
  if rng.random() < s.camera_pan_prob:
    camera[:, 0] = rng.uniform(-1, 1) * 0.1 * W * (np.arange(T) / max(T - 1, 1) - 0.5)
  shake = s.camera_shake * u
  camera += motion.smooth(rng, T, -2 * shake, 2 * shake, freq=(0.05, 0.15), size=(2,))
  camera += rng.normal(0, 0.2 * shake, (T, 2))
  jerk = blur[:, 0:1] * 0.5 * heavy[:, None] * np.stack(
      [np.cos(blur[:, 1]), np.sin(blur[:, 1])], axis=1)
  camera += jerk * rng.choice([-1.0, 1.0], (T, 1))

  margin = np.ceil(np.abs(camera).max(0)) + 4
  plate = backgrounds.background_plate(rng, int(H + 2 * margin[1]), int(W + 2 * margin[0]), u)

  count = int(rng.integers(s.min_people, s.max_people + 1))
  people = _sample_people(rng, s, T, count)
  crowd, regions = [], []
  if rng.random() < s.ignore_region_prob:
    crowd, region = _sample_crowd(rng, s, T)
    regions = [region]
  occluders = _sample_occluders(rng, s, T)
  gain = 1.0 + motion.smooth(rng, T, -0.04, 0.04)
  noise_std = rng.uniform(0.3, 1.0) * s.noise_std
  noise = render.noise_field(rng_for(s, split, index, _NOISE_STREAM), H, W)
  degraded, corrupt_rows = np.zeros(T, np.int64), np.zeros((T, 2), np.int64)
  if s.degraded_frame_share > 0:
    # Its own stream: the rest of the video is the same as without degraded frames.
    occluders = occluders + _degrade_frames(rng_for(s, split, index, _DEGRADE_STREAM), s,
                                            camera, people, blur, degraded, corrupt_rows)
  return VideoPlan(settings=s, split=split, index=index, plate=plate,
                   plate_origin=(float(margin[0]), float(margin[1])), camera=camera,
                   people=people, crowd=crowd, crowd_regions=regions, occluders=occluders,
                   blur=blur, gain=gain, noise_std=float(noise_std), noise=noise,
                   degraded=degraded, corrupt_rows=corrupt_rows)


def spaced_frames(rng, num_frames: int, count: int, gap: int) -> np.ndarray:
  """`count` sorted frame indices at least `gap` apart, uniform over all such sets."""
  count = min(count, (num_frames + gap - 1) // gap)
  free = num_frames - (gap - 1) * (count - 1)
  return np.sort(rng.choice(free, count, replace=False)) + (gap - 1) * np.arange(count)


def _degrade_frames(rng, s: Settings, camera, people, blur, degraded, corrupt_rows) -> list:
  """Marks isolated degraded frames (in place) and returns the one-frame occluders."""
  T, W, H, u = s.frames, s.width, s.height, s.unit
  frames = spaced_frames(rng, T, int(round(s.degraded_frame_share * T)), DEGRADED_GAP)
  occluders = []
  for t in frames:
    kind = int(rng.integers(len(DEGRADATIONS)))
    degraded[t] = kind + 1
    if DEGRADATIONS[kind] == 'blur':       # twice the length of the heaviest ordinary blur
      blur[t] = (rng.uniform(32, 48) * u, rng.uniform(0, math.pi))
    elif DEGRADATIONS[kind] == 'corrupt':  # a lost slice: the decoder repeats a row
      first = int(rng.uniform(0.15, 0.55) * H)
      corrupt_rows[t] = (first, min(H, first + int(rng.uniform(0.3, 0.45) * H)))
    else:                                  # an object crossing the lens covers one person
      seen = [p for p in people if 0 < p.poses.x[t] - camera[t, 0] < W]
      if seen:
        person = seen[int(rng.integers(len(seen)))]
        height = float(person.poses.height[t])
        centre = np.array([person.poses.x[t], person.poses.ground[t] - 0.55 * height])
      else:
        height, centre = 0.5 * H, camera[t] + (W / 2, H / 2)
      centre = centre + rng.uniform(-0.12, 0.12, 2) * height
      size = (rng.uniform(0.45, 0.7) * height, rng.uniform(0.45, 0.7) * height)
      positions = np.full((T, 2), -1e6)    # far outside the picture in every other frame
      positions[t] = centre
      occluders.append(render.Occluder('crate', size, render.random_colour(rng),
                                       str(rng.choice(['plain', 'stripes', 'checker'])),
                                       positions))
  return occluders


def _hidden(owner: np.ndarray, point, owner_id: int) -> bool:
  """Whether most of the 3x3 pixels around `point` belong to something in front."""
  h, w = owner.shape
  x, y = int(round(point[0])), int(round(point[1]))
  patch = owner[max(y - 1, 0):min(y + 2, h), max(x - 1, 0):min(x + 2, w)]
  foreign = (patch != 0) & (patch != owner_id)
  return 2 * int(foreign.sum()) > patch.size


def render_frame(plan: VideoPlan, t: int, *, people: bool = True, finish: bool = True):
  """Render frame `t`.

  Args:
    plan: the video.
    t: frame index.
    people: draw the people and occluders (False: the background plate alone, as the camera
      sees it, with the same blur and noise).
    finish: apply motion blur, brightness and noise.

  Returns:
    image [H, W, 3] uint8 BGR, owner [H, W] uint8 (0 background, track_id + 1 for people,
    render.OCCLUDER), and a PersonState per annotated-person candidate, in track order
    (None for people entirely outside the image).
  """
  s = plan.settings
  W, H = s.width, s.height
  cam = plan.camera[t]
  ox, oy = plan.plate_origin
  matrix = np.array([[1, 0, cam[0] + ox], [0, 1, cam[1] + oy]], np.float64)
  image = cv2.warpAffine(plan.plate, matrix, (W, H),
                         flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REFLECT)
  owner = np.zeros((H, W), np.uint8)
  states = [None] * len(plan.people)
  if people:
    for person in plan.crowd:
      figure = pose_figure(person.body, _shifted(person.poses, t, cam))
      render.draw_figure(image, None, figure, person.appearance)
    figures = []
    for person in plan.people:
      figure = pose_figure(person.body, _shifted(person.poses, t, cam))
      render.draw_figure(image, owner, figure, person.appearance, person.track_id + 1)
      figures.append((person, figure))
    for occ in plan.occluders:
      render.draw_occluder(image, owner, occ, occ.positions[t] - cam)
    first, end = plan.corrupt_rows[t]
    owner[first:end] = render.OCCLUDER     # the joints there are as hidden as behind a wall
    for person, figure in figures:
      box = figure.box
      if box[2] < 0 or box[3] < 0 or box[0] >= W or box[1] >= H:
        continue
      j = figure.joints
      inside = (j[:, 0] >= 0) & (j[:, 0] <= W - 1) & (j[:, 1] >= 0) & (j[:, 1] <= H - 1)
      visible = np.array([ok and not _hidden(owner, p, person.track_id + 1)
                          for ok, p in zip(inside, j)])
      hull = cv2.convexHull(figure.outline.astype(np.float32))[:, 0].astype(np.float64)
      states[person.track_id] = PersonState(
          track_id=person.track_id, joints=j, inside=inside, visible=visible, box=box,
          head_box=figure.head_box, head_center=figure.head_center, hull=hull,
          height=float(person.poses.height[t]))
  if finish:
    image = render.motion_blur(image, *plan.blur[t])
    shift = rng_for(s, plan.split, plan.index, _NOISE_STREAM, t).integers(
        0, render.NOISE_MARGIN, 2)
    image = render.add_noise(image, plan.noise, shift, plan.noise_std, float(plan.gain[t]))
    first, end = plan.corrupt_rows[t]
    if end > first:
      image[first:end] = image[max(first - 1, 0)]
  return image, owner, states


def crowd_regions_in_frame(plan: VideoPlan, t: int) -> list:
  """The crowd polygons in image pixels at frame `t`."""
  return [region - plan.camera[t] for region in plan.crowd_regions]


