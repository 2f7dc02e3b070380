"""The synthetic annotator: which persons and joints get labels, boxes and ignore regions.

The policy imitates PoseTrack practice, and is applied the same way everywhere:

* A joint is labelled (v = 1) when it lies inside the image and the annotator can place it:
  it is visible in this frame, or hidden by an occluder or another person here but visible
  within `infer_window` frames before or after (annotators scrub through the video). Joints
  hidden by the person's own body are always labelled (inferred from the body), joints outside
  the image never, the ears never (PoseTrack does not annotate them). A joint hidden for longer
  than the window is unlabelled (0, 0, 0), like a joint behind a wall in PoseTrack.
  Heavy motion blur never removes a label: the position is known, the picture is just poor.
* A person is annotated in a labelled frame when its head centre is inside the image, it is at
  least `min_person_height` of the image tall and it has `min_labeled_joints` labelled joints.
  Any other person visible in a labelled frame (walking in or out, too small) is covered by an
  ignore region: the convex hull of its figure, cut to the image. Small background crowds are
  covered by their own polygon.
* Boxes: the person box is the whole figure (amodal) cut to the image; the head box encloses
  the head ellipse and head_bottom, cut to the image. Coordinates are rounded to 0.01 px.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from data_pipeline import joints as layout
from data_pipeline.synthetic.settings import Settings

_EARS = np.zeros(layout.NUM_JOINTS, bool)
_EARS[list(layout.UNANNOTATED_JOINTS)] = True


@dataclasses.dataclass(frozen=True)
class PersonLabel:
  track_id: int
  keypoints: np.ndarray    # [17, 3] x, y, v (v 1 labelled, 0 not; unlabelled joints 0, 0, 0)
  occluded: np.ndarray     # [17] bool: labelled but hidden by something in front in this frame
  bbox: np.ndarray         # [4] x, y, w, h inside the image
  head_box: np.ndarray     # [4] x1, y1, x2, y2 inside the image

  @property
  def num_keypoints(self) -> int:
    return int(self.keypoints[:, 2].sum())


@dataclasses.dataclass(frozen=True)
class FrameLabel:
  is_labeled: bool
  persons: list                       # PersonLabel, in track order
  ignore_regions: list                # [P, 2] polygons, image pixels
  visible_persons: list               # (box x1 y1 x2 y2 cut to the image, visible fraction,
                                      #  annotated) of everyone the detector could see


def _cut_box(box, width: int, height: int) -> np.ndarray:
  x1, y1, x2, y2 = box
  return np.round(np.array([min(max(x1, 0), width), min(max(y1, 0), height),
                            min(max(x2, 0), width), min(max(y2, 0), height)], np.float64), 2)


def _cut_polygon(polygon: np.ndarray, width: int, height: int) -> np.ndarray | None:
  """A convex polygon intersected with the image rectangle, or None if they do not meet."""
  frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
  area, inter = cv2.intersectConvexConvex(polygon.astype(np.float32), frame)
  if inter is None or area <= 1.0:
    return None
  return np.round(inter[:, 0].astype(np.float64), 2)


def labelled_joints(inside: np.ndarray, visible: np.ndarray, window: int) -> np.ndarray:
  """[T, P, 17] bool: inside the image now and visible within +-window frames (not the ears).

  Args:
    inside, visible: [T, P, 17] bool per frame, person and joint.
    window: the annotator's look-around, in frames.
  """
  T = visible.shape[0]
  seen = np.zeros_like(visible)
  for dt in range(-window, window + 1):
    lo, hi = max(0, -dt), min(T, T - dt)
    seen[lo:hi] |= visible[lo + dt:hi + dt]
  return inside & seen & ~_EARS


def label_video(states: list, crowd_regions: list, settings: Settings) -> list:
  """Annotations of one video.

  Args:
    states: states[t][track] = scenes.PersonState or None (outside the image), all frames.
    crowd_regions: crowd_regions[t] = list of [P, 2] crowd polygons in image pixels.
    settings: the generator settings (annotator policy, image size).

  Returns:
    A FrameLabel per frame.
  """
  s = settings
  W, H = s.width, s.height
  T = len(states)
  P = len(states[0]) if T else 0
  inside = np.zeros((T, P, layout.NUM_JOINTS), bool)
  visible = np.zeros_like(inside)
  for t in range(T):
    for p, state in enumerate(states[t]):
      if state is not None:
        inside[t, p] = state.inside
        visible[t, p] = state.visible
  labelled = labelled_joints(inside, visible, s.infer_window)
  body_joints = ~_EARS

  frames = []
  for t in range(T):
    is_labeled = t % s.label_stride == 0
    persons, regions, seen = [], [], []
    for p, state in enumerate(states[t]):
      if state is None:
        continue
      cx, cy = state.head_center
      annotated = bool(is_labeled and 0 <= cx < W and 0 <= cy < H
                       and state.height >= s.min_person_height * H
                       and labelled[t, p].sum() >= s.min_labeled_joints)
      box = _cut_box(state.box, W, H)
      if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:    # something a detector could find
        seen.append((box, float(visible[t, p, body_joints].mean()), annotated))
      if annotated:
        keypoints = np.zeros((layout.NUM_JOINTS, 3))
        keypoints[labelled[t, p], :2] = np.round(state.joints[labelled[t, p]], 2)
        keypoints[labelled[t, p], 2] = 1
        persons.append(PersonLabel(
            track_id=state.track_id, keypoints=keypoints,
            occluded=labelled[t, p] & ~visible[t, p],
            bbox=np.round(np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]]), 2),
            head_box=_cut_box(state.head_box, W, H)))
      elif is_labeled:
        region = _cut_polygon(state.hull, W, H)
        if region is not None:
          regions.append(region)
    if is_labeled:
      for polygon in crowd_regions[t]:
        region = _cut_polygon(polygon, W, H)
        if region is not None:
          regions.append(region)
    frames.append(FrameLabel(is_labeled=is_labeled, persons=persons, ignore_regions=regions,
                             visible_persons=seen))
  return frames
