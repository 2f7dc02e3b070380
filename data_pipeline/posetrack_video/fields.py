"""Checked reading of the values in one decoded PoseTrack JSON file.

Every error names the file, the field (a path such as ``annolist[3].annorect[0].x1``) and the
value, so that a bad field can be found in a folder of hundreds of files.
"""

from __future__ import annotations

import dataclasses
import math
import posixpath
from typing import Any

import numpy as np

from data_pipeline.errors import UserError


class PoseTrackFileError(UserError, ValueError):
  """A PoseTrack file that cannot be read as one: the message names the file, field and value."""


class Source:
  """One file being read: checked conversions of its values, and errors that name it."""

  def __init__(self, name: str):
    self.name = name

  def error(self, field: str, problem: str,
            value: Any = dataclasses.MISSING) -> PoseTrackFileError:
    message = f'{self.name}: {field}: {problem}'
    if value is not dataclasses.MISSING:
      text = repr(value)
      message += f' (got {text[:120] + "..." if len(text) > 120 else text})'
    return PoseTrackFileError(message)

  def unwrap(self, value, field: str):
    """PoseTrack17 wraps scalars in 1-element lists; accept both forms."""
    if isinstance(value, (list, tuple)):
      if len(value) != 1:
        raise self.error(field, 'expected a value or a 1-element list', value)
      return value[0]
    return value

  def number(self, value, field: str) -> float:
    value = self.unwrap(value, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise self.error(field, 'expected a number', value)
    if not math.isfinite(value):
      raise self.error(field, 'expected a finite number', value)
    return float(value)

  def integer(self, value, field: str) -> int:
    number = self.number(value, field)
    if number != int(number):
      raise self.error(field, 'expected an integer', value)
    return int(number)

  def flag(self, value, field: str) -> bool:
    value = self.unwrap(value, field)
    if isinstance(value, bool):
      return value
    return bool(self.integer(value, field))

  def visibility(self, value, field: str) -> int:
    value = self.unwrap(value, field)
    return int(value) if isinstance(value, bool) else self.integer(value, field)

  def get(self, mapping, key: str, field: str):
    if not isinstance(mapping, dict):
      raise self.error(field, 'expected an object', mapping)
    if key not in mapping:
      raise self.error(f'{field}.{key}', 'missing field')
    return mapping[key]

  def as_list(self, value, field: str) -> list:
    if not isinstance(value, list):
      raise self.error(field, 'expected a list', value)
    return value

  def polygon(self, xs, ys, field: str) -> np.ndarray:
    xs, ys = self.as_list(xs, field + '.x'), self.as_list(ys, field + '.y')
    if len(xs) != len(ys):
      raise self.error(field, f'{len(xs)} x values but {len(ys)} y values')
    points = [[self.number(x, f'{field}.x[{i}]'), self.number(y, f'{field}.y[{i}]')]
              for i, (x, y) in enumerate(zip(xs, ys))]
    return np.array(points, dtype=np.float64).reshape(-1, 2)

  def numbers(self, value, length: int, field: str, what: str) -> np.ndarray:
    values = self.as_list(value, field)
    if len(values) != length:
      raise self.error(field, f'expected {length} numbers ({what}), got {len(values)}')
    if all(type(v) is int or type(v) is float for v in values):  # not bool
      array = np.array(values, np.float64)
      if np.all(np.isfinite(array)):
        return array
    return np.array([self.number(v, f'{field}[{i}]') for i, v in enumerate(values)],
                    np.float64)


_ONE_VIDEO = 'PoseTrack keeps one video per file'


class OneVideo:
  """Refuses a file whose frames belong to more than one video (by folder or by vid_id)."""

  def __init__(self, src: Source):
    self.src = src
    self.folder = None
    self.video_id = None

  def frame(self, file_name: str, field: str) -> None:
    folder = posixpath.dirname(file_name.replace('\\', '/'))
    if self.folder is None:
      self.folder = folder
    elif folder != self.folder:
      raise self.src.error(field, f'a frame of another video folder: the file holds two videos, '
                                  f'{self.folder!r} and {folder!r} ({_ONE_VIDEO})')

  def video(self, video_id: str, field: str) -> None:
    if self.video_id is None:
      self.video_id = video_id
    elif video_id != self.video_id:
      raise self.src.error(field, f'the file holds two videos, vid_id {self.video_id!r} and '
                                  f'{video_id!r} ({_ONE_VIDEO})')
