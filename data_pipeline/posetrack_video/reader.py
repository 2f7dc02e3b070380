"""Reading one per-video PoseTrack file of either layout: detect the layout, then parse it."""

from __future__ import annotations

import json
import os

from data_pipeline.posetrack_video import fields
from data_pipeline.posetrack_video import posetrack17_reader
from data_pipeline.posetrack_video import posetrack18_reader
from data_pipeline.posetrack_video.records import (
    GROUND_TRUTH, KINDS, POSETRACK17, POSETRACK18, VideoAnnotation)


def detect_layout(data) -> str:
  """``posetrack17`` for an annolist (or a bare list of frames), ``posetrack18`` for images."""
  if isinstance(data, list) or (isinstance(data, dict) and 'annolist' in data):
    return POSETRACK17
  if isinstance(data, dict) and 'images' in data:
    return POSETRACK18
  raise ValueError('neither "annolist" nor "images" at the top level')


def parse_video(data, *, name: str, kind: str = GROUND_TRUTH,
                source: str | None = None) -> VideoAnnotation:
  """Parse a decoded JSON document of either layout.

  Args:
    data: the decoded JSON.
    name: the video name (file name without ``.json``).
    kind: ``ground_truth`` (third keypoint value = visibility) or ``predictions`` (= score;
      a predicted joint without a score gets `MISSING_SCORE`, as poseval does).
    source: the file name used in error messages (default: ``name``).

  Returns:
    The video.

  Raises:
    ValueError: naming the file, the field and the value, on any malformed field.
  """
  if kind not in KINDS:
    raise ValueError(f'kind must be one of {KINDS}, got {kind!r}')
  src = fields.Source(source or name)
  try:
    layout = detect_layout(data)
  except ValueError as e:
    raise src.error('<top level>', str(e), type(data).__name__) from None
  if layout == POSETRACK17:
    return posetrack17_reader.parse(data, name, kind, src)
  return posetrack18_reader.parse(data, name, kind, src)


def read_video(path: str, kind: str = GROUND_TRUTH) -> VideoAnnotation:
  """Read one per-video file, detecting its layout (see `parse_video`)."""
  try:
    with open(path, 'rb') as f:
      data = json.load(f)
  except json.JSONDecodeError as e:
    raise fields.PoseTrackFileError(f'{path}: not valid JSON ({e.msg} at line {e.lineno}, '
                                    f'column {e.colno})') from None
  except UnicodeDecodeError as e:
    raise fields.PoseTrackFileError(f'{path}: not valid JSON ({e})') from None
  name = os.path.splitext(os.path.basename(path))[0]
  return parse_video(data, name=name, kind=kind, source=path)
