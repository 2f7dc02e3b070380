"""The records a PoseTrack video file reads into: layouts, kinds, persons, frames, videos.

Keypoints are in the 17-slot layout of `data_pipeline.joints`. Whether a joint is listed in the
file is kept apart from its coordinates (`PersonAnnotation.present`), because poseval counts
every listed ground-truth point as annotated, visible or not. Coordinates are float64 so that
the evaluator sees exactly the numbers poseval sees.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from data_pipeline import joints

POSETRACK17 = 'posetrack17'
POSETRACK18 = 'posetrack18'
LAYOUTS = (POSETRACK17, POSETRACK18)

GROUND_TRUTH = 'ground_truth'
PREDICTIONS = 'predictions'
KINDS = (GROUND_TRUTH, PREDICTIONS)

# poseval's score for a predicted joint written without one (eval_helpers.MIN_SCORE).
MISSING_SCORE = -9999.0


@dataclasses.dataclass
class PersonAnnotation:
  """One person in one frame.

  Attributes:
    keypoints: [17, 3] float64 in the 17-slot layout: x, y and the visibility flag (ground
      truth) or the joint score (predictions).
    present: [17] bool, which joints the file lists (annotated ground-truth joints, predicted
      joints). Defaults to the COCO convention: a joint is absent when x, y and the third
      value are all 0.
    head_box: [4] float64 head box x1, y1, x2, y2, or None.
    bbox: [4] float64 person box x, y, width, height, or None (PoseTrack18 layout only).
    track_id: integer track id, or None.
    score: person (box) score, or None.
    has_point_list: whether the file gives the person a point list, even an empty one
      (PoseTrack17: ``annopoints[0].point``; the COCO-style layout always does). poseval
      drops a person without one before evaluating; tracking's empty-frame rule sees it.
  """
  keypoints: np.ndarray
  present: np.ndarray | None = None
  head_box: np.ndarray | None = None
  bbox: np.ndarray | None = None
  track_id: int | None = None
  score: float | None = None
  has_point_list: bool = True

  def __post_init__(self):
    self.keypoints = np.array(self.keypoints, dtype=np.float64).reshape(joints.NUM_JOINTS, 3)
    if self.present is None:
      self.present = np.any(self.keypoints != 0, axis=1)
    self.present = np.array(self.present, dtype=bool).reshape(joints.NUM_JOINTS)
    if self.head_box is not None:
      self.head_box = np.array(self.head_box, dtype=np.float64).reshape(4)
    if self.bbox is not None:
      self.bbox = np.array(self.bbox, dtype=np.float64).reshape(4)


@dataclasses.dataclass
class FrameAnnotation:
  """One frame of a video.

  Attributes:
    file_name: the image path as written in the file (relative to the dataset root).
    frame_index: 0-based position of the frame in the file.
    image_id: PoseTrack18 image id, or the PoseTrack17 ``imgnum``; None if the file has none.
    is_labeled: the file's ``is_labeled`` flag (default: the frame lists a person).
    ignore_regions: polygons, each [P, 2] float64 x, y; joints inside are not evaluated.
    persons: the persons, in file order.
  """
  file_name: str
  frame_index: int
  image_id: int | None = None
  is_labeled: bool = False
  ignore_regions: list[np.ndarray] = dataclasses.field(default_factory=list)
  persons: list[PersonAnnotation] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class VideoAnnotation:
  """All frames of one video file.

  Attributes:
    name: the file name without ``.json``; ground truth and predictions pair up by it.
    layout: the layout it was read from (``posetrack17`` or ``posetrack18``).
    frames: every frame, in file order.
    video_id: PoseTrack18 ``vid_id``, or None.
  """
  name: str
  layout: str
  frames: list[FrameAnnotation]
  video_id: str | None = None
