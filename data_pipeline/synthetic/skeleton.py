"""An articulated figure: body proportions, one frame's pose, and forward kinematics.

A pose lives in a body frame (lateral = towards the person's left, forward, up), in units of the
person's standing height. An orthographic camera projects it with the person's yaw
(0 = facing the camera, +pi/2 = facing image right, pi = facing away); image y points down.
Limb directions are 3-D, so arms and legs foreshorten naturally when they point at the camera.

`pose_figure` returns the 17 joints in the slots of `data_pipeline.joints` and the drawable
parts (capsules, ellipses, a torso polygon) sorted back to front, so that the renderer and the
annotations come from the same geometry.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from data_pipeline import joints as layout

SLOT = {name: i for i, name in enumerate(layout.JOINT_NAMES)}
LEFT, RIGHT = 0, 1
SIDE_NAMES = ('left', 'right')
_LATERAL_SIGN = (1.0, -1.0)   # the left side is +lateral
HEAD_BOX_MARGIN = 0.08
# Unit-circle directions of an octagon that circumscribes the unit circle.
_OCTAGON = np.stack([np.cos(np.arange(8) * math.pi / 4), np.sin(np.arange(8) * math.pi / 4)],
                    axis=1) / math.cos(math.pi / 8)


@dataclasses.dataclass(frozen=True)
class Body:
  """A person's proportions, as fractions of the standing height (head top to sole)."""
  spine: float = 0.30            # pelvis centre -> shoulder line
  neck: float = 0.035            # shoulder line -> head_bottom
  head_rx: float = 0.05          # head ellipse half width
  head_ry: float = 0.066         # head ellipse half height
  shoulder_half: float = 0.105
  hip_half: float = 0.065
  upper_arm: float = 0.165
  forearm: float = 0.145
  thigh: float = 0.235
  shin: float = 0.235
  foot: float = 0.065
  upper_arm_width: float = 0.05
  forearm_width: float = 0.042
  thigh_width: float = 0.075
  shin_width: float = 0.056
  torso_depth: float = 0.065     # half thickness seen from the side
  neck_width: float = 0.045
  hand_radius: float = 0.024


def sample_body(rng: np.random.Generator) -> Body:
  """A body with person-to-person variation in limb lengths, widths, shoulders and head."""
  arms, legs, girth, shoulders, head = rng.uniform(
      [0.93, 0.94, 0.8, 0.9, 0.92], [1.07, 1.06, 1.3, 1.15, 1.1])
  b = Body()
  return Body(
      spine=b.spine, neck=b.neck, head_rx=b.head_rx * head, head_ry=b.head_ry * head,
      shoulder_half=b.shoulder_half * shoulders, hip_half=b.hip_half * (0.5 + 0.5 * girth),
      upper_arm=b.upper_arm * arms, forearm=b.forearm * arms,
      thigh=b.thigh * legs, shin=b.shin * legs, foot=b.foot,
      upper_arm_width=b.upper_arm_width * girth, forearm_width=b.forearm_width * girth,
      thigh_width=b.thigh_width * girth, shin_width=b.shin_width * girth,
      torso_depth=b.torso_depth * girth, neck_width=b.neck_width * girth,
      hand_radius=b.hand_radius)


@dataclasses.dataclass(frozen=True)
class Pose:
  """One frame's pose (scalars and [2] left/right arrays), or a sequence ([T] and [T, 2]).

  Angles are radians. Arms and legs hang straight down at zero; abduction raises a limb
  sideways, flexion forwards; elbow flexion bends the forearm forwards/up, knee flexion bends
  the shin backwards, forearm_abduction swings the forearm sideways (waving).
  """
  x: np.ndarray                  # pelvis x, pixels
  ground: np.ndarray             # y of the lowest sole, pixels
  height: np.ndarray             # standing height, pixels
  yaw: np.ndarray
  lean: np.ndarray               # sideways lean of the upper body in the image plane
  bend: np.ndarray               # forward bend of the spine
  head_tilt: np.ndarray          # sideways tilt of the head in the image plane
  head_yaw: np.ndarray           # where the face points (like yaw)
  arm_abduction: np.ndarray
  arm_flexion: np.ndarray
  elbow: np.ndarray
  forearm_abduction: np.ndarray
  leg_abduction: np.ndarray
  leg_flexion: np.ndarray
  knee: np.ndarray

  def at(self, t: int) -> 'Pose':
    """Frame `t` of a pose sequence."""
    return Pose(**{f.name: getattr(self, f.name)[t] for f in dataclasses.fields(self)})

  @property
  def num_frames(self) -> int:
    return len(self.x)


@dataclasses.dataclass(frozen=True)
class Part:
  """A drawable piece of the figure, in image pixels.

  kind: 'capsule' (points [2, 2], width), 'ellipse' (points [1, 2] centre, axes (a, b),
  angle degrees), 'polygon' (points [N, 2]) or 'disc' (points [1, 2], width = diameter).
  material: 'shirt', 'trousers', 'skin', 'hair', 'shoe', 'eye', 'nose', or a clothing slot
  the person's outfit resolves ('sleeve': upper arm, 'forearm', 'shin'); side: 0 left,
  1 right, None for the body's centre line.
  """
  kind: str
  points: np.ndarray
  material: str
  side: int | None = None
  width: float = 0.0
  axes: tuple = (0.0, 0.0)
  angle: float = 0.0


@dataclasses.dataclass(frozen=True)
class Figure:
  """A posed figure in image pixels.

  Attributes:
    joints: [17, 2] joint positions in the slots of data_pipeline.joints (ears included: they
      have a place, the annotations never use it).
    parts: drawable parts, back to front.
    outline: [N, 2] points whose convex hull covers everything drawn.
    box: [4] x1, y1, x2, y2 of the whole figure, tight (amodal: occluders do not shrink it).
    head_box: [4] x1, y1, x2, y2 around the head ellipse and head_bottom, with a margin.
    head_center: [2].
  """
  joints: np.ndarray
  parts: list
  outline: np.ndarray
  box: np.ndarray
  head_box: np.ndarray
  head_center: np.ndarray


def _limb_direction(abduction: float, flexion: float, side: int) -> np.ndarray:
  """Unit vector (lateral, forward, up) of a limb hanging down, raised sideways and forwards."""
  s = _LATERAL_SIGN[side]
  return np.array([s * math.sin(abduction), math.cos(abduction) * math.sin(flexion),
                   -math.cos(abduction) * math.cos(flexion)])


def _rotation(angle: float) -> np.ndarray:
  c, s = math.cos(angle), math.sin(angle)
  return np.array([[c, -s], [s, c]])


def pose_figure(body: Body, pose: Pose) -> Figure:
  """Forward kinematics of one frame: joints, parts (back to front), outline and head box."""
  H = float(pose.height)
  cy, sy = math.cos(pose.yaw), math.sin(pose.yaw)

  def project(v):
    """Body-frame offsets [..., 3] (height units) -> image offsets [..., 2] (height units)."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0] * cy + v[..., 1] * sy, -v[..., 2]], axis=-1)

  # --- 3-D skeleton around the pelvis centre ---
  spine_dir = np.array([0.0, math.sin(pose.bend), math.cos(pose.bend)])
  neck_base = spine_dir * body.spine
  head_bottom = neck_base + spine_dir * body.neck
  points3 = {'neck_base': neck_base, 'head_bottom': head_bottom}
  upper = {}   # upper-body points (rotated by the lean)
  lower = {}
  for side in (LEFT, RIGHT):
    s = _LATERAL_SIGN[side]
    name = SIDE_NAMES[side]
    shoulder = neck_base + np.array([s * body.shoulder_half, 0.0, -0.012])
    d_upper = _limb_direction(pose.arm_abduction[side], pose.arm_flexion[side], side)
    d_fore = _limb_direction(pose.arm_abduction[side] + pose.forearm_abduction[side],
                             pose.arm_flexion[side] + pose.elbow[side], side)
    elbow = shoulder + body.upper_arm * d_upper
    wrist = elbow + body.forearm * d_fore
    upper[f'{name}_shoulder'] = shoulder
    upper[f'{name}_elbow'] = elbow
    upper[f'{name}_wrist'] = wrist
    upper[f'{name}_hand'] = wrist + d_fore * body.hand_radius * 0.9
    hip = np.array([s * body.hip_half, 0.0, -0.01])
    d_thigh = _limb_direction(pose.leg_abduction[side], pose.leg_flexion[side], side)
    d_shin = _limb_direction(pose.leg_abduction[side],
                             pose.leg_flexion[side] - pose.knee[side], side)
    knee = hip + body.thigh * d_thigh
    ankle = knee + body.shin * d_shin
    lower[f'{name}_hip'] = hip
    lower[f'{name}_knee'] = knee
    lower[f'{name}_ankle'] = ankle
    lower[f'{name}_toe'] = ankle + np.array([0.0, body.foot, -0.018])
  upper.update(points3)

  lean = _rotation(pose.lean)
  image = {k: lean @ project(v) for k, v in upper.items()}
  image.update({k: project(v) for k, v in lower.items()})

  # Head: an ellipse on the (projected, leaned) neck, tilted sideways.
  axis = image['head_bottom'] - image['neck_base']
  norm = float(np.hypot(*axis))
  axis = axis / norm if norm > 1e-6 else np.array([0.0, -1.0])
  axis = _rotation(pose.head_tilt) @ axis
  across = np.array([-axis[1], axis[0]])      # image right for an upright head
  head_center = image['head_bottom'] + axis * body.head_ry * 0.92
  image['head_top'] = head_center + axis * body.head_ry * 0.9
  cf, sf = math.cos(pose.head_yaw), math.sin(pose.head_yaw)
  image['nose'] = head_center + across * body.head_rx * 0.78 * sf - axis * body.head_ry * 0.18
  image['left_ear'] = head_center + across * body.head_rx * cf
  image['right_ear'] = head_center - across * body.head_rx * cf

  # Put the lowest sole on the ground line.
  sole = max(image['left_ankle'][1], image['right_ankle'][1],
             image['left_toe'][1], image['right_toe'][1]) + 0.012
  origin = np.array([float(pose.x), float(pose.ground) - sole * H])

  def px(name):
    return origin + image[name] * H

  joints = np.zeros((layout.NUM_JOINTS, 2))
  for name in layout.JOINT_NAMES:
    joints[SLOT[name]] = px(name)

  parts = []    # (depth key, order, Part)
  side_depth = (-sy, sy)        # towards the camera is positive: the left side is far at yaw > 0

  def add(key, part):
    parts.append((key, len(parts), part))

  # Torso: a quadrilateral from the shoulder line to the hips, as wide as the yaw shows it.
  spine_axis = px('neck_base') - origin
  spine_len = float(np.hypot(*spine_axis))
  perp = (np.array([-spine_axis[1], spine_axis[0]]) / spine_len if spine_len > 1e-6
          else np.array([1.0, 0.0]))
  half_top = H * (math.hypot(body.shoulder_half * cy, body.torso_depth * sy)
                  + 0.35 * body.upper_arm_width)
  half_bottom = H * (math.hypot((body.hip_half + 0.4 * body.thigh_width) * cy,
                                body.torso_depth * 0.95 * sy))
  top = px('neck_base') - spine_axis / max(spine_len, 1e-6) * 0.01 * H
  torso = np.array([top - perp * half_top, top + perp * half_top,
                    origin + perp * half_bottom, origin - perp * half_bottom])
  add(-0.40, Part('capsule', np.array([px('left_hip'), px('right_hip')]), 'trousers',
                  width=H * body.thigh_width * 1.05))
  add(-0.35, Part('polygon', torso, 'shirt'))
  add(-0.34, Part('capsule', np.array([px('neck_base'), px('head_bottom')]), 'skin',
                  width=H * body.neck_width))
  # Hair is the whole head; the face is drawn over it on the side the head faces.
  angle = math.degrees(math.atan2(axis[0], -axis[1]))
  head_px = origin + head_center * H
  add(-0.33, Part('ellipse', head_px[None], 'hair',
                  axes=(H * body.head_rx, H * body.head_ry), angle=angle))
  if cf > -0.25:
    face_center = head_px + (across * body.head_rx * 0.3 * sf - axis * body.head_ry * 0.14) * H
    add(-0.32, Part('ellipse', face_center[None], 'skin',
                    axes=(H * body.head_rx * (0.5 + 0.35 * max(cf, 0.0) + 0.1),
                          H * body.head_ry * 0.72), angle=angle))
  if cf > 0.15:
    for eye_side in (-1.0, 1.0):
      eye = head_px + (across * body.head_rx * (0.38 * eye_side * cf + 0.55 * sf)
                       + axis * body.head_ry * 0.12) * H
      add(-0.31, Part('disc', eye[None], 'eye', width=max(1.0, 0.16 * body.head_rx * H)))
    add(-0.31, Part('disc', joints[SLOT['nose']][None], 'nose',
                    width=max(1.0, 0.22 * body.head_rx * H)))

  for side in (LEFT, RIGHT):
    name = SIDE_NAMES[side]
    depth = side_depth[side]
    arm_key = depth if depth < -0.3 else 0.1 + depth
    leg_key = arm_key - 0.05
    add(leg_key, Part('capsule', np.array([px(f'{name}_hip'), px(f'{name}_knee')]), 'trousers',
                      side, width=H * body.thigh_width))
    add(leg_key, Part('capsule', np.array([px(f'{name}_knee'), px(f'{name}_ankle')]), 'shin',
                      side, width=H * body.shin_width))
    add(leg_key, Part('capsule', np.array([px(f'{name}_ankle'), px(f'{name}_toe')]), 'shoe',
                      side, width=H * body.shin_width * 0.9))
    add(arm_key, Part('capsule', np.array([px(f'{name}_shoulder'), px(f'{name}_elbow')]),
                      'sleeve', side, width=H * body.upper_arm_width))
    add(arm_key, Part('capsule', np.array([px(f'{name}_elbow'), px(f'{name}_wrist')]),
                      'forearm', side, width=H * body.forearm_width))
    add(arm_key, Part('disc', px(f'{name}_hand')[None], 'skin', side,
                      width=2 * H * body.hand_radius))
  parts.sort(key=lambda item: (item[0], item[1]))

  # Every shape as a centre with an affine "radius" matrix (disc: r I, ellipse: its rotated
  # axes, polygon corners: 0). The tight box uses the shapes' extents; the outline uses
  # octagons circumscribing each shape, so that its hull covers everything drawn.
  centres, radii = [], []
  for _, _, part in parts:
    if part.kind in ('capsule', 'disc'):
      for p in part.points:
        centres.append(p)
        radii.append(np.eye(2) * (part.width / 2))
    elif part.kind == 'ellipse':
      centres.append(part.points[0])
      radii.append(_ellipse_radii(part.axes, part.angle))
    else:
      for p in part.points:
        centres.append(p)
        radii.append(np.zeros((2, 2)))
  centres, radii = np.array(centres), np.array(radii)           # [N, 2], [N, 2, 2]
  extents = np.sqrt((radii ** 2).sum(axis=2))                   # [N, 2] half width, height
  box = np.concatenate([(centres - extents).min(0), (centres + extents).max(0)])
  outline = (centres[:, None, :] + np.einsum('nij,kj->nki', radii, _OCTAGON)).reshape(-1, 2)
  # Annotators draw head boxes a little outside the hair: a margin of HEAD_BOX_MARGIN x the
  # head height on every side (PCKh's head size is 0.6 x this box's diagonal).
  head_ext = np.sqrt((_ellipse_radii((H * body.head_rx, H * body.head_ry), angle) ** 2).sum(1))
  margin = HEAD_BOX_MARGIN * 2 * body.head_ry * H
  lo = np.minimum(head_px - head_ext, joints[SLOT['head_bottom']]) - margin
  hi = np.maximum(head_px + head_ext, joints[SLOT['head_bottom']]) + margin
  head_box = np.concatenate([lo, hi])
  return Figure(joints=joints, parts=[p for _, _, p in parts], outline=outline, box=box,
                head_box=head_box, head_center=head_px)


def _ellipse_radii(axes, angle_deg: float) -> np.ndarray:
  """[2, 2] matrix mapping the unit circle onto an ellipse with `axes` rotated by `angle_deg`
  (OpenCV's convention); its rows' norms are the half width and half height of its box."""
  t = math.radians(angle_deg)
  return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]) @ np.diag(axes)
