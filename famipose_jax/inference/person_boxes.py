"""Person boxes per video frame: the record, box files, and whole-frame boxes.

A box is `[x, y, width, height]` in pixels of the video frame, (x, y) its top-left corner: the
COCO and PoseTrack convention. `read_box_file` reads two formats, told apart by the JSON's top
level.

Per-frame boxes (a JSON object), one list per video frame, in frame order:

    {"frames": [
      [{"bbox": [412.0, 96.5, 118.0, 301.0], "score": 0.93, "track_id": 0},
       {"bbox": [80.0, 120.0, 95.0, 260.0], "score": 0.71, "track_id": 1}],
      [],
      [{"bbox": [415.5, 97.0, 117.0, 300.0], "track_id": 0}]
    ]}

  - "frames" has exactly as many lists as the video has frames; an empty list is a frame with
    nobody in it.
  - "bbox" is required; "score" is optional (1.0 if absent: given boxes are trusted).
  - "track_id" is optional: a non-negative integer naming the same person across frames. Give
    it on every box of the file or on none; with ids the tracker keeps them as given, without
    it links the boxes into tracks itself. One frame cannot hold the same id twice.

PoseTrack detections (a JSON list), the format of the published val/test person boxes:

    [{"image_name": "images/val/000342_mpii_test/000017.jpg",
      "bbox": [412.0, 96.5, 118.0, 301.0], "score": 0.93, "category_id": 1}, ...]

  - Entries whose "category_id" is not 1 (person) are left out.
  - An entry names its frame by "image_name": by the file's base name when the video is a
    folder of frames (`frame_names` given), otherwise by the frame number in that name (six
    digits count from 0 as PoseTrack18, eight from 1 as PoseTrack17). All entries must come
    from one video (one folder). "image_id" alone is refused: it indexes the PoseTrack split's
    annotation file, which a video of one's own does not have.
  - A frame without entries has no boxes. No score threshold is applied: every box is kept with
    its score.

Both formats: boxes must be four finite numbers with positive width and height (and, when the
frame size is known, must not lie entirely outside the frame); anything else raises
`BadInputError` naming the file, the entry and the offending value.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from data_pipeline.atomic_files import write_json_atomic
from data_pipeline.bad_input import BadInputError, describe
from data_pipeline.coco_keypoints import box_problem
from data_pipeline.json_files import finite_numbers, read_json
from data_pipeline.samples import parse_frame_name
from famipose_jax import errors


@dataclasses.dataclass(frozen=True)
class PersonBox:
  """One person's box in one frame."""
  box: tuple[float, float, float, float]   # x, y, width, height in image pixels
  score: float                             # detector confidence (1.0 for given boxes)
  track_id: int | None = None


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
  """Intersection over union of every box in `boxes_a` [N, 4] with every box in `boxes_b` [M, 4].

  Boxes are x, y, width, height. Returns [N, M] float64 (0 where a union is empty).
  """
  a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
  b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
  left = np.maximum(a[:, None, 0], b[None, :, 0])
  top = np.maximum(a[:, None, 1], b[None, :, 1])
  right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
  bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
  inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
  union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
  return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def full_frame_boxes(num_frames: int, width: int, height: int) -> list[list[PersonBox]]:
  """One box covering the whole frame in every frame: one person filling the video."""
  box = PersonBox(box=(0.0, 0.0, float(width), float(height)), score=1.0)
  return [[box] for _ in range(num_frames)]


def write_box_file(path: str, frames) -> None:
  """Writes per-frame boxes (lists of PersonBox) in the per-frame format `read_box_file` reads.

  Track ids are written when every box has one (the format's all-or-none rule); otherwise none.
  """
  with_ids = all(p.track_id is not None for boxes in frames for p in boxes)
  document = {'frames': [[_box_record(p, with_ids) for p in boxes] for boxes in frames]}
  write_json_atomic(path, document, compact=True, allow_nan=False)


def _box_record(person: PersonBox, with_id: bool) -> dict:
  record = {'bbox': [float(v) for v in person.box], 'score': float(person.score)}
  if with_id:
    record['track_id'] = int(person.track_id)
  return record


def read_box_file(path: str, num_frames: int, frame_names=None,
                  image_size: tuple[int, int] | None = None) -> list[list[PersonBox]]:
  """Reads a box file (either format in the module docstring) into one box list per frame.

  Args:
    path: the JSON file.
    num_frames: frames in the video.
    frame_names: the video's frame file names in frame order when it is a folder of frames
      (PoseTrack detections are then matched by base name); None for a video file.
    image_size: (width, height) of the frames, to refuse boxes entirely outside them.

  Returns:
    `num_frames` lists of PersonBox, each in file order.

  Raises:
    BadInputError: naming the file, the entry and the value that cannot be used.
  """
  data = read_json(path)
  if frame_names is not None and len(frame_names) != num_frames:
    raise errors.InvalidInputError(
        f'{len(frame_names)} frame names for a video of {num_frames} frames')
  if isinstance(data, dict):
    return _read_per_frame(data, path, num_frames, image_size)
  if isinstance(data, list):
    return _read_posetrack(data, path, num_frames, frame_names, image_size)
  raise BadInputError(f'{path}: a box file should be a JSON object {{"frames": [...]}} or a '
                      f'JSON list of PoseTrack detections, got {type(data).__name__}')


def _bad(path: str, field: str, value, reason: str) -> BadInputError:
  return BadInputError(describe(path, field, value, reason))


def _checked_box(path: str, where: str, entry, image_size) -> tuple[float, ...]:
  if not isinstance(entry, dict):
    raise _bad(path, where, entry, 'should be a JSON object with a "bbox"')
  if 'bbox' not in entry:
    raise _bad(path, where, entry, "has no field 'bbox'")
  bbox = entry['bbox']
  if not finite_numbers(bbox, 4):
    raise _bad(path, f'{where}.bbox', bbox, 'should be 4 finite numbers [x, y, w, h]')
  # Without a frame size only the size can be checked: an infinite frame holds every box.
  width, height = image_size if image_size is not None else (math.inf, math.inf)
  problem = box_problem(bbox, width, height)
  if problem:
    raise _bad(path, f'{where}.bbox', bbox, problem)
  return tuple(float(v) for v in bbox)


def _checked_score(path: str, where: str, entry, default=None) -> float:
  if 'score' not in entry and default is not None:
    return default
  score = entry.get('score')
  if not finite_numbers([score], 1):
    raise _bad(path, f'{where}.score', score, 'should be a finite number')
  return float(score)


def _read_per_frame(data: dict, path: str, num_frames: int, image_size):
  if 'frames' not in data:
    raise BadInputError(f'{path}: no top-level field \'frames\' (fields: {sorted(data)[:12]}); '
                        'a per-frame box file is {"frames": [[boxes of frame 0], ...]}')
  frames = data['frames']
  if not isinstance(frames, list):
    raise _bad(path, 'frames', frames, 'should be a list with one list of boxes per frame')
  if len(frames) != num_frames:
    raise BadInputError(f'{path}: field \'frames\' covers {len(frames)} frames, the video has '
                        f'{num_frames}')
  with_ids = None          # whether the file gives track ids, set by its first box
  result = []
  for t, boxes in enumerate(frames):
    if not isinstance(boxes, list):
      raise _bad(path, f'frames[{t}]', boxes, 'should be a list of boxes')
    persons, seen_ids = [], set()
    for i, entry in enumerate(boxes):
      where = f'frames[{t}][{i}]'
      box = _checked_box(path, where, entry, image_size)
      score = _checked_score(path, where, entry, default=1.0)
      has_id = 'track_id' in entry
      if with_ids is None:
        with_ids = has_id
      elif has_id != with_ids:
        mismatch = ('gives a track_id and the file\'s first box does not' if has_id else
                    'has no track_id and the file\'s first box has one')
        raise _bad(path, where, entry, f'{mismatch} (give track ids on every box or on none)')
      track_id = None
      if has_id:
        track_id = entry['track_id']
        if isinstance(track_id, bool) or not isinstance(track_id, int) or track_id < 0:
          raise _bad(path, f'{where}.track_id', track_id, 'should be a non-negative integer')
        if track_id in seen_ids:
          raise _bad(path, f'{where}.track_id', track_id,
                     f'appears twice in frame {t}: one person per track and frame')
        seen_ids.add(track_id)
      persons.append(PersonBox(box=box, score=score, track_id=track_id))
    result.append(persons)
  return result


def _read_posetrack(data: list, path: str, num_frames: int, frame_names, image_size):
  by_name = None
  if frame_names is not None:
    by_name = {os.path.basename(str(name)): t for t, name in enumerate(frame_names)}
  result = [[] for _ in range(num_frames)]
  folders = {}             # folder -> the first entry naming it, to report mixed videos
  for i, entry in enumerate(data):
    where = f'[{i}]'
    if isinstance(entry, dict) and entry.get('category_id', 1) != 1:
      continue             # not a person
    box = _checked_box(path, where, entry, image_size)
    score = _checked_score(path, where, entry)
    if 'image_name' not in entry:
      if 'image_id' in entry:
        raise _bad(path, f'{where}.image_id', entry['image_id'],
                   'frames are matched by image_name; an image_id indexes a PoseTrack split\'s '
                   'annotation file, which this video does not have')
      raise _bad(path, where, entry, "has no field 'image_name'")
    name = str(entry['image_name'])
    folder, base = os.path.split(name)
    folders.setdefault(folder, i)
    if len(folders) > 1:
      first_folder, first_entry = next(iter(folders.items()))
      raise _bad(path, f'{where}.image_name', name,
                 f'comes from another video than entry [{first_entry}] ({first_folder!r}); '
                 'give the boxes of one video')
    if by_name is not None:
      if base not in by_name:
        raise _bad(path, f'{where}.image_name', name,
                   f'no frame of the video is named {base!r} (the video has {num_frames} '
                   f'frames, {_name_range(frame_names)})')
      t = by_name[base]
    else:
      try:
        frame = parse_frame_name(name)
      except ValueError as e:
        raise _bad(path, f'{where}.image_name', name, str(e)) from None
      t = frame.number - frame.first_number
      if not 0 <= t < num_frames:
        raise _bad(path, f'{where}.image_name', name,
                   f'frame index {t} does not exist: the video has {num_frames} frames '
                   f'(0..{num_frames - 1})')
    result[t].append(PersonBox(box=box, score=score))
  return result


def _name_range(frame_names) -> str:
  if not frame_names:
    return 'none named'
  first, last = os.path.basename(str(frame_names[0])), os.path.basename(str(frame_names[-1]))
  return f'{first}..{last}'
