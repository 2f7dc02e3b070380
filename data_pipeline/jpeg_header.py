"""A JPEG's pixel size from its markers, and whether it is complete, without decoding it.

Building a dataset checks every frame its clips need (data_pipeline/frame_checks.py). Walking
the marker segments up to the frame header and reading the file's last bytes costs a few small
reads per frame; decoding every frame would cost minutes on PoseTrack.
"""

from __future__ import annotations

import os
from typing import BinaryIO

START_OF_IMAGE = b'\xff\xd8'
END_OF_IMAGE = b'\xff\xd9'
_STANDALONE = {0x01, *range(0xD0, 0xD8)}    # TEM and RSTn carry no length field
# SOF0..SOF15 hold the size; 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) share the range.
_FRAME_HEADERS = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_TAIL_CHUNK = 4096


def _read(f: BinaryIO, count: int) -> bytes:
  data = f.read(count)
  if len(data) < count:
    raise ValueError('JPEG header ends early (truncated file)')
  return data


def frame_size(f: BinaryIO) -> tuple[int, int]:
  """(width, height) from the frame header of the JPEG in `f`, read just past its SOI marker.

  Raises:
    ValueError: with the reason, if the markers end or break before a frame header.
  """
  while True:
    if _read(f, 1) != b'\xff':
      raise ValueError('broken JPEG header (a marker was expected)')
    marker = 0xFF
    while marker == 0xFF:    # fill bytes may precede a marker
      marker = _read(f, 1)[0]
    if marker in _STANDALONE:
      continue
    if marker in (0xD9, 0xDA):    # EOI, SOS: the image data starts without a frame header
      raise ValueError('JPEG without a frame header')
    length = int.from_bytes(_read(f, 2), 'big')
    if marker in _FRAME_HEADERS:
      header = _read(f, 5)     # precision, height, width
      return int.from_bytes(header[3:5], 'big'), int.from_bytes(header[1:3], 'big')
    if length < 2:
      raise ValueError(f'broken JPEG header (segment length {length})')
    f.seek(length - 2, os.SEEK_CUR)


def has_end_marker(f: BinaryIO) -> bool:
  """Whether the data in `f` ends with the end-of-image marker, trailing zero bytes ignored.

  The same rule as the decoder's check (frame_source.decode_frame): a truncated JPEG decodes
  "successfully" with a grey bottom, so only the marker tells.
  """
  end = f.seek(0, os.SEEK_END)
  while end > 0:
    start = max(0, end - _TAIL_CHUNK)
    f.seek(start)
    kept = f.read(end - start).rstrip(b'\x00')
    if kept:
      last = start + len(kept)     # one past the last non-zero byte
      if last < 2:
        return False
      f.seek(last - 2)
      return f.read(2) == END_OF_IMAGE
    end = start
  return False
