"""Where encoded frames come from: the raw PoseTrack folders or a prepared TFDS dataset.

Both sources hand out the original JPEG bytes, decoded by the same code, so a clip is
bit-identical whichever source it was read from. Where the optional libjpeg-turbo extension
was built (setup.py), `read_region` decodes only the rows and columns a crop needs; its pixels
are the whole decode's (tests/test_data_region_decode.py), so only the speed depends on it.
Frames are addressed by their file name relative to the dataset root (`images/val/<video>/<frame>.jpg`), as the annotation files
name them.
"""

from __future__ import annotations

import io
import os
import threading

import cv2
import numpy as np

from data_pipeline import jpeg_header
from data_pipeline.bad_input import BadInputError

try:
  from data_pipeline import _jpeg_region
except ImportError:   # built only where libjpeg-turbo's headers were found
  _jpeg_region = None

# cv2.IMREAD_REDUCED_COLOR_{2,4,8}: the JPEG decoder scales by 1/2, 1/4, 1/8 in the DCT.
_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                  4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
REDUCTIONS = tuple(_REDUCED_FLAGS)


def region_decoding_available() -> bool:
  """Whether the libjpeg-turbo region decoder was built."""
  return _jpeg_region is not None


def _is_jpeg(data: bytes, name: str) -> bool:
  """Whether `data` is a JPEG; refuses empty and truncated files.

  A truncated JPEG would otherwise decode "successfully" with a grey bottom, so JPEG data must
  end with the end-of-image marker.
  """
  if not data:
    raise BadInputError(f'{name}: frame file is empty')
  is_jpeg = data[:2] == jpeg_header.START_OF_IMAGE
  if is_jpeg and not jpeg_header.has_end_marker(io.BytesIO(data)):   # the build-time rule
    raise BadInputError(f'{name}: truncated JPEG (no end-of-image marker)')
  return is_jpeg


def decode_frame(data: bytes, name: str, reduction: int = 1) -> np.ndarray:
  """Decodes an encoded frame to uint8 BGR [H, W, 3] (or [H/r, W/r, 3] for reduction r)."""
  _is_jpeg(data, name)
  image = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_FLAGS[reduction])
  if image is None:
    raise BadInputError(f'{name}: not a decodable image ({len(data)} bytes)')
  return image


def decode_region(data: bytes, name: str, box) -> tuple[np.ndarray, tuple[int, int],
                                                      tuple[int, int]]:
  """The pixels of `box` = (x0, y0, x1, y1) (exclusive ends) of a frame, clipped to the frame.

  Returns:
    uint8 BGR [h, w, 3] covering at least the clipped box (empty if nothing is left: the
    caller compares the returned frame size with what it expected), its top-left (x, y) in
    the frame, and the frame's (width, height). With the region decoder, only that part of a JPEG is decoded
    (whole rows above it are entropy-decoded and skipped, nothing below it is read); otherwise,
    or for what the decoder does not handle (CMYK, not a JPEG), the whole frame is decoded and
    sliced.
  """
  x0, y0, x1, y1 = (int(v) for v in box)
  if _is_jpeg(data, name) and _jpeg_region is not None:
    # One extra pixel each side: the decoder's chroma upsampling differs from a full decode
    # at a cropped column edge, so edges inside the frame are decoded and dropped.
    try:
      pixels, x, y, w, h, width, height = _jpeg_region.decode_region(
          data, max(x0 - 1, 0), max(y0 - 1, 0), x1 + 1, y1 + 1)
    except _jpeg_region.error:
      pass   # a box that misses the frame, or an unusual JPEG: OpenCV decides below
    else:
      region = np.frombuffer(pixels, np.uint8).reshape(h, w, 3)
      left = int(x > 0)
      right = w - int(x + w < width)
      top = int(y > 0)
      bottom = h - int(y + h < height)
      return region[top:bottom, left:right], (x + left, y + top), (width, height)
  frame = decode_frame(data, name)
  height, width = frame.shape[:2]
  x0, y0 = min(max(x0, 0), width), min(max(y0, 0), height)
  return frame[y0:max(y1, y0), x0:max(x1, x0)], (x0, y0), (width, height)


class UnreadableFrame(BadInputError):
  """A frame that cannot be used; `reason` says why without the path (skips count per reason)."""

  def __init__(self, path: str, reason: str):
    super().__init__(f'{path}: {reason}')
    self.path = path
    self.reason = reason


def probe_image_file(f) -> tuple[int, int]:
  """(width, height) of the image open in `f`; ValueError(reason) if it cannot be used."""
  start = f.read(2)
  if not start:
    raise ValueError('frame file is empty')
  if start != jpeg_header.START_OF_IMAGE:   # another format: PIL reads only its header
    import PIL.Image  # pylint: disable=g-import-not-at-top
    f.seek(0)
    try:
      with PIL.Image.open(f) as image:
        return image.size
    except PIL.UnidentifiedImageError:
      raise ValueError('cannot read the image header (not an image file)') from None
    except Exception as e:  # PIL raises several unrelated types here.
      raise ValueError(f'cannot read the image header ({e})') from None
  size = jpeg_header.frame_size(f)
  if not jpeg_header.has_end_marker(f):
    raise ValueError('truncated JPEG (no end-of-image marker)')
  return size


class FolderFrameSource:
  """Frames as files under `root` (the raw PoseTrack layout)."""

  def __init__(self, root: str):
    self.root = root
    self._listings: dict[str, frozenset] = {}
    self._sizes: dict[str, tuple[int, int]] = {}

  def __repr__(self):
    return f'FolderFrameSource({self.root!r})'

  def path(self, name: str) -> str:
    return os.path.join(self.root, name)

  def where(self, name: str) -> str:
    """Frame `name` as messages name it."""
    return self.path(name)

  def exists(self, name: str) -> bool:
    try:
      return name in self.folder_listing(os.path.dirname(name))
    except BadInputError:
      return False

  def read_bytes(self, name: str) -> bytes:
    try:
      with open(self.path(name), 'rb') as f:
        return f.read()
    except FileNotFoundError:
      raise BadInputError(f'{self.path(name)}: frame file not found') from None

  def read(self, name: str, reduction: int = 1) -> np.ndarray:
    return decode_frame(self.read_bytes(name), self.path(name), reduction)

  def read_region(self, name: str, box):
    return decode_region(self.read_bytes(name), self.path(name), box)

  def probe(self, name: str) -> tuple[int, int]:
    """(width, height) of frame `name` from its header, without decoding it.

    Raises:
      UnreadableFrame: for a missing or empty file, a JPEG without its end-of-image marker
        (truncated) or a header that gives no size.
    """
    path = self.path(name)
    try:
      with open(path, 'rb') as f:
        return probe_image_file(f)
    except FileNotFoundError:
      raise UnreadableFrame(path, 'frame file not found') from None
    except ValueError as e:
      raise UnreadableFrame(path, str(e)) from None
    except OSError as e:
      raise UnreadableFrame(path, f'cannot read the frame file ({e.strerror or e})') from None

  def folder_listing(self, folder: str) -> frozenset:
    if folder not in self._listings:
      path = self.path(folder)
      if not os.path.isdir(path):
        raise BadInputError(f'{path}: video folder not found')
      self._listings[folder] = frozenset(os.path.join(folder, f) for f in os.listdir(path))
    return self._listings[folder]

  def count_frames(self, folder: str) -> int:
    return sum(1 for f in self.folder_listing(folder) if os.path.splitext(f)[0][-1:].isdigit())

  def image_size(self, name: str) -> tuple[int, int]:
    """(width, height) of a frame; all frames of a video are taken to share it.

    If frame `name` cannot be read, the video's other frames are tried: the clip check
    (data_pipeline/frame_checks.py) reports the bad frame itself, under data.on_bad_input.
    """
    folder = os.path.dirname(name)
    if folder not in self._sizes:
      others = sorted(self.folder_listing(folder) - {name})
      errors = []
      for candidate in [name] + others:
        try:
          self._sizes[folder] = self.probe(candidate)
          break
        except UnreadableFrame as e:
          errors.append(e)
      else:
        raise BadInputError(f'{errors[0]} (and no other frame of {self.path(folder)} is '
                            'readable)')
    return self._sizes[folder]

  def __getstate__(self):
    return {'root': self.root}

  def __setstate__(self, state):
    self.__init__(state['root'])


class TfdsFrameSource:
  """Frames stored once each by the `posetrack_frames` TFDS builder (array_record).

  Random access goes through `tfds.data_source`; the file-name index comes from the
  dataset's metadata, so opening the source reads no image.
  """

  def __init__(self, data_dir: str, name: str = 'posetrack_frames'):
    self.data_dir = data_dir
    self.name = name
    self._sources = None
    self._index = None
    self._lock = threading.Lock()   # tf.data calls in from several threads

  def __repr__(self):
    return f'TfdsFrameSource({self.data_dir!r}, {self.name!r})'

  def _open(self):
    if self._index is not None:
      return
    with self._lock:
      if self._index is None:
        self._open_locked()

  def _open_locked(self):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    folder = os.path.join(self.data_dir, self.name)
    versions = sorted((d for d in (os.listdir(folder) if os.path.isdir(folder) else ())
                       if os.path.isfile(os.path.join(folder, d, 'dataset_info.json'))),
                      key=lambda v: tuple(int(p) for p in v.split('.') if p.isdigit()))
    if not versions:
      raise BadInputError(
          f'{folder}: no prepared {self.name!r} dataset (build it with `python -m '
          f'data_pipeline.posetrack_frames --manual_dir=ROOT --data_dir={self.data_dir} '
          f'--file_format=array_record`, the `tfds build` command for this builder)')
    self._builder = tfds.builder_from_directory(os.path.join(folder, versions[-1]))
    frames = self._builder.info.metadata['frames']
    self._sources = {split: None for split in frames}
    # Recorded by the builder since it checks each frame (older datasets: none recorded).
    self._unreadable = dict(self._builder.info.metadata.get('unreadable_frames', {}))
    index, self._sizes, self._frame_sizes = {}, {}, {}
    for split, listing in frames.items():
      for i, (file_name, width, height) in enumerate(listing):
        index[file_name] = (split, i)
        self._frame_sizes[file_name] = (int(width), int(height))
        if file_name not in self._unreadable:   # recorded as 0 x 0
          self._sizes[os.path.dirname(file_name)] = (int(width), int(height))
    self._index = index     # set last: other threads take a non-None index as "open"

  def _source(self, split):
    if self._sources[split] is None:
      with self._lock:
        if self._sources[split] is None:
          self._sources[split] = self._builder.as_data_source(split=split)
    return self._sources[split]

  def exists(self, name: str) -> bool:
    self._open()
    return name in self._index

  def where(self, name: str) -> str:
    """Frame `name` as messages name it."""
    return f'{self.name}:{name}'

  def file_names(self) -> list[str]:
    """Every stored frame's file name, sorted."""
    self._open()
    return sorted(self._index)

  def read_bytes(self, name: str) -> bytes:
    self._open()
    if name not in self._index:
      raise BadInputError(f'{self.name} in {self.data_dir}: frame {name} not found')
    split, i = self._index[name]
    return self._source(split)[i]['jpeg']

  def read(self, name: str, reduction: int = 1) -> np.ndarray:
    return decode_frame(self.read_bytes(name), f'{self.name}:{name}', reduction)

  def read_region(self, name: str, box):
    return decode_region(self.read_bytes(name), f'{self.name}:{name}', box)

  def probe(self, name: str) -> tuple[int, int]:
    """(width, height) of frame `name` as the dataset's metadata lists it, reading no record.

    The builder checked each frame as FolderFrameSource.probe does and recorded the unusable
    ones; a dataset prepared before it did so records none, and a truncated frame in it stops
    the run only when it is loaded.

    Raises:
      UnreadableFrame: if the dataset holds no such frame, or recorded it as unusable.
    """
    self._open()
    if name not in self._frame_sizes:
      raise UnreadableFrame(self.where(name), f'frame not in {self.name} in {self.data_dir}')
    if name in self._unreadable:
      raise UnreadableFrame(self.where(name), self._unreadable[name])
    return self._frame_sizes[name]

  def count_frames(self, folder: str) -> int:
    self._open()
    return sum(1 for f in self._index if os.path.dirname(f) == folder)

  def image_size(self, name: str) -> tuple[int, int]:
    self._open()
    size = self._sizes.get(os.path.dirname(name))
    if size is None:
      raise BadInputError(f'{self.name} in {self.data_dir}: no frames of {os.path.dirname(name)}')
    return size

  def __getstate__(self):
    # Open handles stay in the process that opened them; workers reopen lazily.
    return {'data_dir': self.data_dir, 'name': self.name}

  def __setstate__(self, state):
    self.__init__(state['data_dir'], state['name'])


def make_frame_source(data_config):
  """The frame source `data.frame_source` names ('folder' | 'tfds')."""
  if data_config.frame_source == 'tfds':
    return TfdsFrameSource(data_config.tfds_data_dir or os.path.join(data_config.root, 'tfds'))
  return FolderFrameSource(data_config.root)
