"""One sample: a person box in a key frame, and how the frames of its video are named.

PoseTrack names frames by number: PoseTrack17 `%08d.jpg` counted from 1, PoseTrack18/21
`%06d.jpg` counted from 0. As in the published dataset code, the key frame's number and the
zero fill come from its file name, and the supporting frames are the files with the
neighbouring numbers in the same folder.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np


@dataclasses.dataclass(frozen=True)
class FrameName:
  """Where a frame lives: `<folder>/<number zero-filled to digits><extension>`."""
  folder: str          # relative to the dataset root, e.g. images/val/000342_mpii_test
  number: int
  digits: int
  extension: str       # '.jpg'
  first_number: int    # number of the video's first frame (0 or 1)

  def path_of(self, number: int) -> str:
    """The relative path of frame `number` of the same video."""
    return os.path.join(self.folder, str(number).zfill(self.digits) + self.extension)


def parse_frame_name(file_name: str, numbering: str = 'auto') -> FrameName:
  """Splits `file_name` (relative to the root) into folder, frame number and naming scheme.

  Args:
    file_name: e.g. 'images/val/000342_mpii_test/000017.jpg'.
    numbering: 'auto' (6 digits: counted from 0 as PoseTrack18, otherwise from 1 as
      PoseTrack17; the published rule), 'from0' or 'from1'.

  Raises:
    ValueError: if the file's stem is not a frame number.
  """
  folder, base = os.path.split(file_name)
  stem, extension = os.path.splitext(base)
  if not stem.isdigit():
    raise ValueError(f'frame file name {file_name!r} does not end in a frame number '
                     '(PoseTrack frames are named like 00000001.jpg or 000000.jpg)')
  digits = len(stem)
  if numbering == 'auto':
    first = 0 if digits == 6 else 1
  else:
    first = 0 if numbering == 'from0' else 1
  return FrameName(folder=folder, number=int(stem), digits=digits, extension=extension,
                   first_number=first)


@dataclasses.dataclass(frozen=True)
class Sample:
  """One (frame, person) pair: the key frame, its person box and, for training, its joints."""
  frame: FrameName
  num_frames: int            # frames in the video (the clip boundary rule needs it)
  image_id: int              # id in the annotation or detection file (-1 if none)
  box: tuple                 # (x, y, w, h) in image pixels, after the published clean-up
  center: np.ndarray         # [2] float32 crop centre, image pixels
  scale: np.ndarray          # [2] float32 crop size / pixel_std (box enlarged, aspect fixed)
  box_score: float           # 1 for ground-truth boxes, the detector's score otherwise
  joints: np.ndarray | None  # [K, 3] float32 (x, y, visible) in image pixels; None for detections
  image_size: tuple          # (width, height) of the video's frames
  track_id: int = -1

  @property
  def file_name(self) -> str:
    return self.frame.path_of(self.frame.number)

  @property
  def video_folder(self) -> str:
    return self.frame.folder

  @property
  def video_name(self) -> str:
    return os.path.basename(self.frame.folder)
