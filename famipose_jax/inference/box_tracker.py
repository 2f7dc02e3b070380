"""Linking per-frame person boxes into tracks: one id per person across the video.

Frame by frame, the boxes are matched to the live tracks by IoU with an optimal assignment
(the Hungarian method, `scipy.optimize.linear_sum_assignment`, which maximises the summed IoU;
a greedy best-pair-first match can take a pair that leaves two others unmatched). A pair matches
only with IoU >= `min_iou` against the track's last box. A track left unmatched for more than
`max_missed` consecutive frames ends; a box no track takes starts a new track. New ids count from
0 in order of appearance (within a frame, in the frame's box order) and are never reused.

Boxes that already carry track ids (a box file with ids) keep them as given.

Each track's boxes are then smoothed with a centred moving average over the track's boxes in
frame order. The window shrinks symmetrically near the track's ends, so it always stays centred:
unlike a causal (exponential) average it does not lag behind a moving person, and a box moving at
constant velocity is left exactly as it was. Smoothing changes coordinates only, never ids or
scores.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

import numpy as np

from famipose_jax.inference.person_boxes import PersonBox, iou_matrix
from famipose_jax import errors


def link_tracks(frames: Sequence[Sequence[PersonBox]], *, min_iou: float = 0.3,
                max_missed: int = 5, keep_given_ids: bool = True, smooth_window: int = 5,
                min_track_length: int = 1, detected: Sequence[int] | None = None
                ) -> list[list[PersonBox]]:
  """Track ids for every box, smoothed boxes, and optionally only tracks of some length.

  Args:
    frames: one list of PersonBox per video frame.
    min_iou: the least IoU between a box and a track's last box for them to match.
    max_missed: how many consecutive frames a track may go unmatched and still continue.
    keep_given_ids: when every box carries a track id, keep those ids (no linking); when False,
      given ids are ignored and the boxes are linked afresh.
    smooth_window: length of the centred moving average over each track's boxes (odd; 1 turns
      smoothing off).
    min_track_length: tracks with fewer boxes than this are dropped (1 keeps all).
    detected: the frames a detector ran on, in order, when it skipped some (their boxes in
      `frames` are empty): the detected frames are linked as a video of their own (a track may
      miss max_missed // (frames per detection) of them; given ids are kept), then each track
      is carried across the frames between two of its detections (`fill_between_detections`).
      None: all frames.

  Returns:
    New lists of new PersonBox records, the boxes of each frame in the input's order; the
    inputs are left untouched.

  Raises:
    ValueError: if some boxes carry track ids and others do not (with keep_given_ids), or a
      setting is out of range.
  """
  check_link_settings(min_iou=min_iou, max_missed=max_missed, smooth_window=smooth_window,
                      min_track_length=min_track_length)
  detected = list(range(len(frames)) if detected is None else detected)
  _check_frame_numbers(detected, len(frames))
  skipped_with_boxes = [t for t in sorted(set(range(len(frames))) - set(detected)) if frames[t]]
  if skipped_with_boxes:
    raise errors.InvalidInputError(
        f'frame {skipped_with_boxes[0]} has boxes but is not among the detected frames')
  given = [p.track_id is not None for boxes in frames for p in boxes]
  if keep_given_ids and all(given):
    linked = [list(frames[t]) for t in detected]
  elif keep_given_ids and any(given):
    raise errors.InvalidInputError(
        f'{sum(given)} of {len(given)} boxes carry track ids: give ids on every box (kept as '
        'given) or on none (linked by IoU)')
  else:
    # Frames per detection (the typical gap: every k-th frame and the last give k).
    spacing = int(np.median(np.diff(detected))) if len(detected) > 1 else 1
    linked = assign_track_ids([frames[t] for t in detected], min_iou=min_iou,
                              max_missed=max_missed // spacing)
  tracked = fill_between_detections(linked, detected, len(frames))
  tracked = smooth_tracks(tracked, smooth_window)
  return drop_short_tracks(tracked, min_track_length)


def _check_frame_numbers(detected: Sequence[int], num_frames: int) -> None:
  detected = list(detected)
  if detected != sorted(set(detected)) or any(not 0 <= t < num_frames for t in detected):
    raise errors.InvalidInputError(
        f'detected frames {detected[:8]}..: need increasing frame numbers below {num_frames}')


def check_link_settings(*, min_iou: float, max_missed: int, smooth_window: int,
                        min_track_length: int) -> None:
  """Raises ValueError naming the first `link_tracks` setting out of range (callers check
  before a long detection pass rather than after it)."""
  _check_matching(min_iou, max_missed)
  if smooth_window < 1 or smooth_window % 2 == 0:
    raise errors.InvalidInputError(
        f'smooth_window should be a positive odd number, got {smooth_window}')
  if min_track_length < 1:
    raise errors.InvalidInputError(f'min_track_length should be >= 1, got {min_track_length}')


def _check_matching(min_iou: float, max_missed: int) -> None:
  if not 0 < min_iou <= 1:
    raise errors.InvalidInputError(f'min_iou should be in (0, 1], got {min_iou}')
  if max_missed < 0:
    raise errors.InvalidInputError(f'max_missed should be >= 0, got {max_missed}')


def assign_track_ids(frames: Sequence[Sequence[PersonBox]], *, min_iou: float = 0.3,
                     max_missed: int = 5) -> list[list[PersonBox]]:
  """Every box with a track id from IoU matching (any given ids are replaced)."""
  _check_matching(min_iou, max_missed)
  # Imported here: it takes 0.3 s, and the predict command's detection workers, which import
  # this module with the command's, never link.
  import scipy.optimize  # pylint: disable=g-import-not-at-top
  live: dict[int, tuple[tuple, int]] = {}     # id -> (last box, frame it was last matched)
  next_id = 0
  result = []
  for t, boxes in enumerate(frames):
    live = {i: v for i, v in live.items() if t - v[1] - 1 <= max_missed}
    ids = list(live)
    iou = iou_matrix([p.box for p in boxes], [live[i][0] for i in ids])
    # Pairs below min_iou count as zero, so the assignment never trades a real match for one
    # that would be refused afterwards.
    iou[iou < min_iou] = 0.0
    rows, cols = scipy.optimize.linear_sum_assignment(iou, maximize=True)
    matched = {r: ids[c] for r, c in zip(rows, cols) if iou[r, c] > 0}
    out = []
    for b, person in enumerate(boxes):
      if b in matched:
        track_id = matched[b]
      else:
        track_id, next_id = next_id, next_id + 1
      live[track_id] = (person.box, t)
      out.append(dataclasses.replace(person, track_id=track_id))
    result.append(out)
  return result


def fill_between_detections(linked: Sequence[Sequence[PersonBox]], detected: Sequence[int],
                            num_frames: int) -> list[list[PersonBox]]:
  """Every frame's boxes, where only the frames `detected` were detected and linked.

  `linked[i]` holds the boxes (with track ids) of frame `detected[i]`. A track found in two
  consecutive detected frames gets a box in each frame between them, linearly interpolated in
  coordinates and score. Nothing else is filled: not a detected frame where the detector missed
  the track (as when every frame is detected), not before a track's first detection or after
  its last. Filled frames list their boxes by track id.
  """
  _check_frame_numbers(detected, num_frames)
  if len(linked) != len(detected):
    raise errors.InvalidInputError(
        f'{len(linked)} linked frames for {len(detected)} detected frames: need one per '
        'detected frame')
  out = [[] for _ in range(num_frames)]
  last_seen: dict[int, tuple[int, PersonBox]] = {}    # id -> (detected frame index, box)
  filled = collections.defaultdict(list)
  for i, (t, boxes) in enumerate(zip(detected, linked)):
    out[t] = list(boxes)
    for person in boxes:
      if last_seen.get(person.track_id, (None,))[0] == i - 1:
        before = last_seen[person.track_id][1]
        start = detected[i - 1]
        for between in range(start + 1, t):
          share = (between - start) / (t - start)
          box = (1 - share) * np.asarray(before.box) + share * np.asarray(person.box)
          filled[between].append(dataclasses.replace(
              person, box=tuple(float(v) for v in box),
              score=float((1 - share) * before.score + share * person.score)))
      last_seen[person.track_id] = (i, person)
  for t, boxes in filled.items():
    out[t] = sorted(boxes, key=lambda p: p.track_id)
  return out


def smooth_tracks(frames: Sequence[Sequence[PersonBox]], window: int = 5
                  ) -> list[list[PersonBox]]:
  """Each track's boxes averaged over a centred window of its boxes (see the module docstring).

  Args:
    frames: boxes with track ids.
    window: odd window length; near a track's ends it shrinks to stay centred.
  """
  if window < 1 or window % 2 == 0:
    raise errors.InvalidInputError(f'window should be a positive odd number, got {window}')
  places = collections.defaultdict(list)   # id -> [(frame, index in frame)] in frame order
  for t, boxes in enumerate(frames):
    for b, person in enumerate(boxes):
      if person.track_id is None:
        raise errors.InvalidInputError(
            f'frame {t} box {b} has no track id: smoothing follows tracks')
      places[person.track_id].append((t, b))
  out = [list(boxes) for boxes in frames]
  half = window // 2
  for where in places.values():
    coords = np.array([frames[t][b].box for t, b in where], np.float64)
    for k, (t, b) in enumerate(where):
      reach = min(half, k, len(where) - 1 - k)
      mean = coords[k - reach:k + reach + 1].mean(axis=0)
      out[t][b] = dataclasses.replace(frames[t][b], box=tuple(float(v) for v in mean))
  return out


def drop_short_tracks(frames: Sequence[Sequence[PersonBox]], min_length: int
                      ) -> list[list[PersonBox]]:
  """Only the boxes of tracks with at least `min_length` boxes (frames where they appear)."""
  lengths = collections.Counter(p.track_id for boxes in frames for p in boxes)
  return [[p for p in boxes if lengths[p.track_id] >= min_length] for boxes in frames]
