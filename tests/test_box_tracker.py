"""Linking boxes into tracks: exact ids on hand-built sequences, and smoothing without lag."""

import copy

import numpy as np
import pytest

from famipose_jax.inference.box_tracker import (assign_track_ids, fill_between_detections,
                                                link_tracks, smooth_tracks)
from famipose_jax.inference.person_boxes import PersonBox


def _frames(*frames):
  """Frames of (x, y, w, h) tuples, or (x, y, w, h, track_id), into PersonBox lists."""
  return [[PersonBox(tuple(float(v) for v in b[:4]), 1.0, b[4] if len(b) > 4 else None)
           for b in boxes] for boxes in frames]


def _ids(frames):
  return [[p.track_id for p in boxes] for boxes in frames]


def test_two_people_crossing_keep_their_ids():
  # A walks right, B walks left 10 pixels lower; they pass each other at t = 5. The frame's
  # box order flips from t = 5 on, so ids must follow boxes, not positions in the list.
  frames = []
  for t in range(11):
    a, b = (8.0 * t, 0, 20, 40), (80.0 - 8 * t, 10, 20, 40)
    frames.append([a, b] if t < 5 else [b, a])
  tracked = assign_track_ids(_frames(*frames), min_iou=0.2, max_missed=0)
  assert _ids(tracked) == [[0, 1]] * 5 + [[1, 0]] * 6


def test_optimal_assignment_where_greedy_fails():
  # IoU(T0, D1) = 0.67 is the best pair, but taking it leaves T1 with nothing
  # (IoU(T1, D0) = 0); the optimal match T0-D0 (0.54) + T1-D1 (0.33) keeps both tracks.
  frames = _frames([(20, 0, 10, 10), (27, 0, 10, 10)],
                   [(17, 0, 10, 10), (22, 0, 10, 10)])
  assert _ids(assign_track_ids(frames, min_iou=0.3)) == [[0, 1], [0, 1]]


def test_pair_below_min_iou_is_never_matched():
  frames = _frames([(0, 0, 10, 10)], [(6, 0, 10, 10)])   # IoU 4/16 = 0.25
  assert _ids(assign_track_ids(frames, min_iou=0.3)) == [[0], [1]]
  assert _ids(assign_track_ids(frames, min_iou=0.25)) == [[0], [0]]


@pytest.mark.parametrize('gap, max_missed, ids', [
    (1, 1, [[0], [0], [], [0]]),              # missing one frame, allowed one: same person
    (2, 1, [[0], [0], [], [], [1]]),          # missing two, allowed one: a new track
    (2, 2, [[0], [0], [], [], [0]]),
])
def test_person_missing_for_frames(gap, max_missed, ids):
  box = (50, 50, 20, 40)
  frames = _frames([box], [box], *([[]] * gap), [box])
  assert _ids(assign_track_ids(frames, max_missed=max_missed)) == ids


def test_new_people_get_new_ids_never_reused():
  a, b, c = (0, 0, 20, 40), (100, 0, 20, 40), (200, 0, 20, 40)
  frames = _frames([a], [a, b], [b], [b], [b, a], [c, b])
  # A leaves after t = 1 and returns at t = 4 after 2 missed frames: with max_missed = 1 it is
  # a new track (2); C is new again (3).
  assert _ids(assign_track_ids(frames, max_missed=1)) == [[0], [0, 1], [1], [1], [1, 2], [3, 1]]


def test_given_track_ids_are_kept():
  frames = _frames([(0, 0, 20, 40, 7), (100, 0, 20, 40, 3)],
                   [(0, 0, 20, 40, 3), (100, 0, 20, 40, 7)])   # ids that IoU would swap
  assert _ids(link_tracks(frames)) == [[7, 3], [3, 7]]
  assert _ids(link_tracks(frames, keep_given_ids=False, smooth_window=1)) == [[0, 1], [0, 1]]


def test_mixed_given_ids_refused():
  frames = _frames([(0, 0, 20, 40, 0)], [(0, 0, 20, 40)])
  with pytest.raises(ValueError, match=r'1 of 2 boxes carry track ids'):
    link_tracks(frames)


def test_smoothing_a_jittered_constant_box():
  jitter = [2, -2, 2, -2, 2, -2, 2]
  frames = _frames(*[[(100 + j, 50 - j, 40, 80)] for j in jitter])
  xs = [p.box[0] for boxes in link_tracks(frames, smooth_window=5) for p in boxes]
  # Centred windows of 1, 3, 5, 5, 5, 3, 1 boxes (shrinking at the track's ends).
  np.testing.assert_allclose(xs, [102, 302 / 3, 100.4, 99.6, 100.4, 302 / 3, 102])
  ys = [p.box[1] for boxes in link_tracks(frames, smooth_window=5) for p in boxes]
  np.testing.assert_allclose(ys, [48, 148 / 3, 49.6, 50.4, 49.6, 148 / 3, 48])


def test_smoothing_leaves_constant_velocity_unchanged():
  frames = _frames(*[[(10.0 + 3 * t, 5.0 - t, 40 + t, 80 + 2 * t)] for t in range(9)])
  smoothed = link_tracks(frames, smooth_window=7)
  np.testing.assert_allclose([p.box for boxes in smoothed for p in boxes],
                             [p.box for boxes in frames for p in boxes], atol=1e-12)


def test_smoothing_changes_coordinates_only():
  def box(x):
    return (x, 0.0, 10.0, 10.0)
  frames = [[PersonBox(box(0.0), 0.9, 4), PersonBox(box(50.0), 0.3, 2)],
            [PersonBox(box(54.0), 0.4, 2)],
            [PersonBox(box(2.0), 0.8, 4), PersonBox(box(52.0), 0.5, 2)]]
  smoothed = smooth_tracks(frames, 3)
  assert _ids(smoothed) == [[4, 2], [2], [4, 2]]
  assert [[p.score for p in boxes] for boxes in smoothed] == [[0.9, 0.3], [0.4], [0.8, 0.5]]
  # Track 2's middle box is the mean of its three boxes; track 4 has two (ends stay as they are).
  assert smoothed[1][0].box == (52.0, 0.0, 10.0, 10.0)
  assert smoothed[2][0].box == (2.0, 0.0, 10.0, 10.0)


def test_short_tracks_dropped_on_request():
  a, b = (0, 0, 20, 40), (100, 0, 20, 40)
  frames = _frames([a], [a, b], [a])
  assert _ids(link_tracks(frames, smooth_window=1)) == [[0], [0, 1], [0]]
  assert _ids(link_tracks(frames, smooth_window=1, min_track_length=2)) == [[0], [0], [0]]


def test_inputs_untouched_and_empty_frames():
  frames = _frames([], [(0, 0, 20, 40)], [], [(1, 0, 20, 40)])
  before = copy.deepcopy(frames)
  tracked = link_tracks(frames, smooth_window=3)
  assert frames == before
  assert _ids(tracked) == [[], [0], [], [0]]
  assert tracked[1][0].box == (0.0, 0.0, 20.0, 40.0)
  assert link_tracks([]) == []


def test_tracks_are_carried_between_detected_frames():
  # Detected at 0, 3 and 5 (every 3rd and the last). A moves 9 px per detection (3 a frame)
  # with score 0.9 then 0.6; B is seen at 0 only; C appears at 3 and is missed at 5.
  a = [PersonBox((0.0, 0.0, 20.0, 40.0), 0.9), PersonBox((9.0, 0.0, 20.0, 40.0), 0.6),
       PersonBox((15.0, 0.0, 20.0, 40.0), 0.6)]
  b = PersonBox((100.0, 0.0, 20.0, 40.0), 0.8)
  c = PersonBox((200.0, 0.0, 20.0, 40.0), 0.7)
  frames = [[a[0], b], [], [], [a[1], c], [], [a[2]]]
  tracked = link_tracks(frames, detected=[0, 3, 5], smooth_window=1)
  assert _ids(tracked) == [[0, 1], [0], [0], [0, 2], [0], [0]]
  assert [p.box[0] for p in (tracked[1][0], tracked[2][0], tracked[4][0])] == [3.0, 6.0, 12.0]
  assert tracked[1][0].score == pytest.approx(0.8) and tracked[2][0].score == pytest.approx(0.7)
  # Every frame detected: the same tracks as linking without `detected`.
  every = _frames([(0, 0, 20, 40), (50, 0, 20, 40)], [(2, 0, 20, 40)], [],
                  [(4, 0, 20, 40), (52, 0, 20, 40)])
  assert link_tracks(every, detected=[0, 1, 2, 3]) == link_tracks(every)


def test_a_track_missed_in_a_detected_frame_is_not_filled():
  # Seen at detected frames 0 and 4, missed at 2: frames 1 and 3 stay empty, as frame 2 does
  # (a detection round with the person missed is no different from one with every frame).
  person = PersonBox((0.0, 0.0, 20.0, 40.0), 0.9)
  linked = assign_track_ids([[person], [], [person]])
  assert _ids(fill_between_detections(linked, [0, 2, 4], 5)) == [[0], [], [], [], [0]]


def test_given_track_ids_are_carried_between_detected_frames():
  first = PersonBox((0.0, 0.0, 20.0, 40.0), 0.9, 7)
  last = PersonBox((4.0, 0.0, 20.0, 40.0), 0.9, 7)
  tracked = link_tracks([[first], [], [], [], [last]], detected=[0, 4], smooth_window=1)
  assert _ids(tracked) == [[7]] * 5 and [p.box[0] for p in tracked[1]] == [1.0]


def test_detected_frames_checked():
  person = PersonBox((0.0, 0.0, 20.0, 40.0), 0.9)
  with pytest.raises(ValueError, match='frame 1 has boxes but is not among the detected'):
    link_tracks([[person], [person], [person]], detected=[0, 2])
  with pytest.raises(ValueError, match='increasing frame numbers below 3'):
    fill_between_detections([[], []], [2, 0], 3)
  with pytest.raises(ValueError, match='increasing frame numbers below 3'):
    link_tracks([[], [], []], detected=[-2, 2])
  with pytest.raises(ValueError, match='1 linked frames for 2 detected frames'):
    fill_between_detections([[]], [0, 2], 3)
