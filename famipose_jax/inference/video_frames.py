"""The frames of one video, indexable by number, as [H, W, 3] uint8 RGB arrays.

Three sources behave alike (`Frames`): a list of arrays in memory, a folder of frame images
(sorted by the numbers in their names), and a video file. A video file is decoded in order and
only a window of recent frames is kept (a clip reads a few neighbours of its key frame), so a
long video never has to fit in memory; reading backwards beyond the window starts the decoder
again. Every source checks that the frames exist, decode and share one size, and says which
frame is wrong when one is not.
"""

from __future__ import annotations

import collections
import os
import re
from typing import Sequence

import cv2
import numpy as np

from data_pipeline.bad_input import BadInputError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
DEFAULT_FPS = 25.0     # PoseTrack's frame rate, for folders of images and videos without one


class Frames:
  """A video's frames: `len`, `frames[i]` -> [H, W, 3] uint8 RGB.

  Attributes:
    name: the video's name (a file or folder name without extension).
    names: per frame, the file name prediction files record for it.
    size: (width, height) of every frame.
    fps: frames per second (DEFAULT_FPS where the source has none).
  """
  name: str
  names: list[str]
  size: tuple[int, int]
  fps: float

  def __len__(self) -> int:
    return len(self.names)

  def __getitem__(self, index: int) -> np.ndarray:
    if not 0 <= index < len(self):
      raise IndexError(f'frame {index} of a {len(self)}-frame video')
    return self._read(index)

  def __iter__(self):
    return (self[i] for i in range(len(self)))

  def _read(self, index: int) -> np.ndarray:
    raise NotImplementedError

  def _checked(self, frame: np.ndarray | None, where: str) -> np.ndarray:
    if frame is None:
      raise BadInputError(f'{where}: cannot be decoded as an image')
    if frame.shape[1::-1] != tuple(self.size):
      raise BadInputError(f'{where}: frame is {frame.shape[1]}x{frame.shape[0]} pixels, the '
                          f'video\'s first frame {self.size[0]}x{self.size[1]}')
    return frame


def _check_array(frame, where: str) -> np.ndarray:
  frame = np.asarray(frame)
  if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
    raise ValueError(f'{where}: frames must be [H, W, 3] uint8 RGB arrays, got {frame.dtype} '
                     f'{frame.shape}')
  return frame


class ArrayFrames(Frames):
  """Frames already in memory."""

  def __init__(self, frames: Sequence[np.ndarray], name: str = 'video', fps: float = DEFAULT_FPS):
    self._frames = [_check_array(f, f'frame {i}') for i, f in enumerate(frames)]
    if not self._frames:
      raise ValueError('no frames given')
    self.name = name
    self.names = [f'{name}/{i:06d}.jpg' for i in range(len(self._frames))]
    self.size = self._frames[0].shape[1::-1]
    self.fps = float(fps)
    for i, frame in enumerate(self._frames):
      self._checked(frame, f'frame {i}')

  def _read(self, index):
    return self._frames[index]


def _natural_key(name: str):
  return [int(part) if part.isdigit() else part for part in re.split(r'(\d+)', name)]


class FolderFrames(Frames):
  """A folder of frame images, in the order of the numbers in their names."""

  def __init__(self, folder: str, fps: float = DEFAULT_FPS):
    folder = os.path.abspath(folder)
    files = sorted((f for f in os.listdir(folder)
                    if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith('.')),
                   key=_natural_key)
    if not files:
      raise BadInputError(f'{folder}: no frame images ({", ".join(IMAGE_EXTENSIONS)}) in it')
    self.folder = folder
    self.name = os.path.basename(folder)
    self.names = [f'{self.name}/{f}' for f in files]
    self._paths = [os.path.join(folder, f) for f in files]
    first = cv2.imread(self._paths[0], cv2.IMREAD_COLOR)
    if first is None:
      raise BadInputError(f'{self._paths[0]}: cannot be decoded as an image')
    self.size = first.shape[1::-1]
    self.fps = float(fps)

  def _read(self, index):
    path = self._paths[index]
    frame = self._checked(cv2.imread(path, cv2.IMREAD_COLOR), path)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class VideoFileFrames(Frames):
  """A video file, decoded in order with a window of recent frames kept."""

  def __init__(self, path: str, window: int = 16):
    self.path = os.path.abspath(path)
    self.name = os.path.splitext(os.path.basename(path))[0]
    self._window = max(2, int(window))
    capture = self._open()
    fps = capture.get(cv2.CAP_PROP_FPS)
    # The container's frame count is a hint that can be wrong: count by decoding.
    count, size = 0, None
    while True:
      ok, frame = capture.read()
      if not ok:
        break
      if size is None:
        size = frame.shape[1::-1]
      count += 1
    capture.release()
    if count == 0:
      raise BadInputError(f'{self.path}: holds no frame OpenCV can decode (empty or damaged)')
    self.size = size
    self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else DEFAULT_FPS
    self.names = [f'{self.name}/{i:06d}.jpg' for i in range(count)]
    self._capture = None
    self._next = 0        # the number of the frame the capture decodes next
    self._cache: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()

  def _open(self):
    if not os.path.isfile(self.path):
      raise FileNotFoundError(f'{self.path}: no such video file')
    capture = cv2.VideoCapture(self.path)
    if not capture.isOpened():
      raise BadInputError(f'{self.path}: not a video OpenCV can open')
    return capture

  def _read(self, index):
    if index in self._cache:
      return self._cache[index]
    if self._capture is None or index < self._next:
      if self._capture is not None:
        self._capture.release()
      self._capture, self._next = self._open(), 0
    while self._next <= index:
      ok, frame = self._capture.read()
      if not ok:
        raise BadInputError(f'{self.path}: frame {self._next} cannot be decoded (the video '
                            f'changed since it was opened, or is damaged)')
      frame = self._checked(frame, f'{self.path} frame {self._next}')
      self._cache[self._next] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
      while len(self._cache) > self._window:
        self._cache.popitem(last=False)
      self._next += 1
    return self._cache[index]

  def close(self):
    if self._capture is not None:
      self._capture.release()
      self._capture = None


def open_frames(path: str, window: int = 16) -> Frames:
  """A video file or a folder of frame images (`window`: decoded video frames kept).

  Raises:
    FileNotFoundError: nothing at `path`.
    BadInputError: naming the file, for an empty folder, a video OpenCV cannot open or decode,
      or frames of different sizes.
  """
  if os.path.isdir(path):
    return FolderFrames(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path}: no such video file or frame folder')
  return VideoFileFrames(path, window)
