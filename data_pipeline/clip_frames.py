"""Which frames form a clip: the key frame and its supporting frames.

A model family decides what a clip holds (`ClipSpec`: famipose_jax.models.registry): the
supporting frames' offsets (usually config.data.supporting_offsets), the rule at the ends of a
video, and whether a sample also carries the offsets of the frames actually read (DCPose weighs
its neighbours by them).

Near the start or end of a video some offsets point at frames that do not exist. Three rules:

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
'key_frame' (DCPose's): a frame that does not exist is replaced by the key frame itself.
"""

from __future__ import annotations

import dataclasses

from data_pipeline import config as data_schema


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """What one sample holds besides its key frame.

  Attributes:
    offsets: the supporting frames, relative to the key frame, in the model's order (none for
      a single-frame model).
    boundary_rule: 'published' | 'clamp' | 'key_frame' (this module's docstring).
    frame_offsets: the sample also carries 'supporting_frame_offsets' [N] int32: each
      supporting frame actually read minus the key frame (0 where the key frame stood in).
  """
  offsets: tuple[int, ...] = ()
  boundary_rule: str = 'published'
  frame_offsets: bool = False

  def __post_init__(self):
    object.__setattr__(self, 'offsets', tuple(int(o) for o in self.offsets))
    data_schema.check_choice('data.boundary_rule', self.boundary_rule)


def supporting_frame_numbers(key: int, first: int, num_frames: int, offsets,
                             rule: str = 'published') -> list[int]:
  """Frame numbers of the supporting frames, in `offsets` order.

  Args:
    key: the key frame's number.
    first: the number of the video's first frame (1 for PoseTrack17, 0 for PoseTrack18).
    num_frames: frames in the video, so the last is first + num_frames - 1.
    offsets: relative frame indices, e.g. (-2, -1, 1, 2).
    rule: 'published', 'clamp' or 'key_frame'.
  """
  data_schema.check_choice('data.boundary_rule', rule)
  last = first + num_frames - 1
  if not first <= key <= last:
    raise ValueError(f'key frame {key} lies outside the video (frames {first}..{last})')
  offsets = [int(o) for o in offsets]
  if rule == 'clamp':
    return [min(max(key + o, first), last) for o in offsets]
  if rule == 'key_frame':
    return [key + o if first <= key + o <= last else key for o in offsets]

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
