"""Which frames form a clip: the key frame and its supporting frames at `data.supporting_offsets`.

Near the start or end of a video some offsets point at frames that do not exist. Two rules:

'published' (FAMI-Pose's spatiotemporal window, DISTANCE = 3 for offsets -2, -1, +1, +2):
  - previous side: the available previous frames, farthest first, fill the slots from the
    farthest offset inwards; the remaining (nearest) slots get the key frame. With one
    previous frame, offsets (-2, -1) read frames (t-1, t).
  - next side: the available next frames fill the slots from the nearest offset outwards;
    the remaining slots repeat the nearest next frame, or the key frame if there is none.
    With one next frame, offsets (+1, +2) read (t+1, t+1).
  For contiguous offsets (-D+1..-1, +1..D-1) this is exactly the published code; other
  offset sets follow the same fill order over the offsets that exist.
'clamp': each offset is clamped into the video, t + d -> min(max(t + d, first), last).
"""

from __future__ import annotations

from data_pipeline import config as data_schema


def supporting_frame_numbers(key: int, first: int, num_frames: int, offsets,
                             rule: str = 'published') -> list[int]:
  """Frame numbers of the supporting frames, in `offsets` order.

  Args:
    key: the key frame's number.
    first: the number of the video's first frame (1 for PoseTrack17, 0 for PoseTrack18).
    num_frames: frames in the video, so the last is first + num_frames - 1.
    offsets: relative frame indices, e.g. (-2, -1, 1, 2).
    rule: 'published' or 'clamp'.
  """
  data_schema.check_choice('data.boundary_rule', rule)
  last = first + num_frames - 1
  if not first <= key <= last:
    raise ValueError(f'key frame {key} lies outside the video (frames {first}..{last})')
  offsets = [int(o) for o in offsets]
  if rule == 'clamp':
    return [min(max(key + o, first), last) for o in offsets]

  chosen = {0: key}
  # Previous side: distances ascending (1, 2, ...); slots are filled farthest first.
  past = sorted({-o for o in offsets if o < 0})
  available = [d for d in past if d <= key - first]
  fill = sorted(available, reverse=True) + [0] * (len(past) - len(available))
  for distance, used in zip(sorted(past, reverse=True), fill):
    chosen[-distance] = key - used
  # Next side: slots filled nearest first, the rest repeat the nearest available frame.
  future = sorted({o for o in offsets if o > 0})
  available = [d for d in future if d <= last - key]
  pad = available[0] if available else 0
  fill = available + [pad] * (len(future) - len(available))
  for distance, used in zip(future, fill):
    chosen[distance] = key + used
  return [chosen[o] for o in offsets]
