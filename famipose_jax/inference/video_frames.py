"""The frames of one video, indexable by number, as [H, W, 3] uint8 RGB arrays.

Three sources behave alike (`Frames`): a list of arrays in memory, a folder of frame images
(sorted by the numbers in their names), and a video file. Files keep a window of recently read
frames (a clip reads a few neighbours of its key frame, for every person in it), so each frame
is decoded about once and a long video never has to fit in memory; a video file is decoded in
order, and reading backwards beyond the window starts its decoder again. Every source checks
that the frames exist, decode and share one size, and says which frame is wrong when one is not.
"""

from __future__ import annotations

import collections
import logging
import os
import re
from typing import Sequence

import cv2
import numpy as np

from data_pipeline.bad_input import BadInputError
from famipose_jax import errors

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
DEFAULT_FPS = 25.0     # PoseTrack's frame rate, for folders of images and videos without one

_log = logging.getLogger(__name__)


class Frames:
  """A video's frames: `len`, `frames[i]` -> [H, W, 3] uint8 RGB; a context manager.

  Attributes:
    name: the video's name (a file or folder name without extension).
    names: per frame, the file name prediction files record for it.
    size: (width, height) of every frame.
    fps: frames per second (DEFAULT_FPS where the source has none).
    window: how many recently read frames are kept (`keep_recent`).
  """
  name: str
  names: list[str]
  size: tuple[int, int]
  fps: float
  window: int = 16

  def __len__(self) -> int:
    return len(self.names)

  def __getitem__(self, index: int) -> np.ndarray:
    if not 0 <= index < len(self):
      raise IndexError(f'frame {index} of a {len(self)}-frame video')
    cache = self._recent()
    if index not in cache:
      self._remember(index, self._read(index))
    return cache[index]

  def __iter__(self):
    return (self[i] for i in range(len(self)))

  def keep_recent(self, count: int) -> None:
    """Keeps at least the `count` most recently read frames from now on."""
    self.window = max(self.window, int(count))

  def close(self) -> None:
    """Releases the decoder and the kept frames (reading again reopens them)."""
    self._recent().clear()

  def __enter__(self):
    return self

  def __exit__(self, *exc_info):
    self.close()

  def __getstate__(self):
    # A copy for another process (detection workers): the same frames, none decoded yet.
    state = dict(self.__dict__)
    state.pop('_cache', None)
    return state

  def _recent(self) -> collections.OrderedDict:
    if '_cache' not in self.__dict__:
      self._cache = collections.OrderedDict()
    return self._cache

  def _remember(self, index: int, frame: np.ndarray) -> None:
    cache = self._recent()
    cache[index] = frame
    while len(cache) > self.window:
      cache.popitem(last=False)

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
    raise errors.InvalidInputError(
        f'{where}: frames must be [H, W, 3] uint8 RGB arrays, got {frame.dtype} '
        f'{frame.shape}')
  return frame


class ArrayFrames(Frames):
  """Frames already in memory."""

  def __init__(self, frames: Sequence[np.ndarray], name: str = 'video', fps: float = DEFAULT_FPS):
    self._frames = [_check_array(f, f'frame {i}') for i, f in enumerate(frames)]
    if not self._frames:
      raise errors.InvalidInputError('no frames given')
    self.name = name
    self.names = [f'{name}/{i:06d}.jpg' for i in range(len(self._frames))]
    self.size = self._frames[0].shape[1::-1]
    self.fps = float(fps)
    for i, frame in enumerate(self._frames):
      self._checked(frame, f'frame {i}')

  def __getitem__(self, index):
    return self._frames[index]   # already in memory: nothing to keep


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
  """A video file, decoded in order."""

  def __init__(self, path: str, window: int = 16):
    self.path = os.path.abspath(path)
    self.name = os.path.splitext(os.path.basename(path))[0]
    self.window = max(2, int(window))
    self._capture = None
    self._next = 0        # the number of the frame the capture decodes next
    capture = self._open()
    fps = capture.get(cv2.CAP_PROP_FPS)
    listed = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    # The container's frame count is a hint that can be wrong: count by decoding, checking
    # every frame's size now rather than minutes into a run.
    count, self.size = 0, None
    try:
      while True:
        ok, frame = capture.read()
        if not ok:
          break
        if self.size is None:
          self.size = frame.shape[1::-1]
        self._checked(frame, f'{self.path} frame {count}')
        count += 1
    finally:
      capture.release()
    if count == 0:
      raise BadInputError(f'{self.path}: holds no frame OpenCV can decode (empty or damaged)')
    if count < listed:
      _log.warning('%s: decoding stopped after %d of the %d frames the file lists (damaged or '
                   'truncated?): predicting those %d', self.path, count, listed, count)
    self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else DEFAULT_FPS
    self.names = [f'{self.name}/{i:06d}.jpg' for i in range(count)]

  def _open(self):
    if not os.path.isfile(self.path):
      raise errors.MissingInputError(f'{self.path}: no such video file')
    capture = cv2.VideoCapture(self.path)
    if not capture.isOpened():
      raise BadInputError(f'{self.path}: not a video OpenCV can open')
    return capture

  def _read(self, index):
    if self._capture is None or index < self._next:
      self.close()
      self._capture, self._next = self._open(), 0
    while self._next <= index:
      ok, frame = self._capture.read()
      if not ok:
        raise BadInputError(f'{self.path}: frame {self._next} cannot be decoded (the video '
                            f'changed since it was opened, or is damaged)')
      frame = self._checked(frame, f'{self.path} frame {self._next}')
      self._remember(self._next, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
      self._next += 1
    return self._recent()[index]

  def __getstate__(self):
    state = super().__getstate__()
    state.update(_capture=None, _next=0)     # a decoder is not copied: the copy opens its own
    return state

  def close(self):
    if self._capture is not None:
      self._capture.release()
      self._capture = None
    super().close()


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
    raise errors.MissingInputError(f'{path}: no such video file or frame folder')
  return VideoFileFrames(path, window)
