"""Supporting-frame selection: the published boundary rule, its generalisation, clamping."""

import pytest

from data_pipeline.clip_frames import supporting_frame_numbers
from data_pipeline.samples import parse_frame_name

OFFSETS = (-2, -1, 1, 2)


@pytest.mark.parametrize('key, expected', [
    (1, [1, 1, 2, 3]),     # no previous frame: both previous slots read the key frame
    (2, [1, 2, 3, 4]),     # one previous frame: (-2, -1) read (t-1, t), as coded
    (3, [1, 2, 4, 5]),
    (5, [3, 4, 6, 6]),     # one next frame: (+1, +2) read (t+1, t+1)
    (6, [4, 5, 6, 6]),     # no next frame: the key frame
])
def test_published_rule_posetrack17_numbering(key, expected):
  assert supporting_frame_numbers(key, 1, 6, OFFSETS, 'published') == expected


def test_published_rule_posetrack18_numbering_and_single_frame_video():
  assert supporting_frame_numbers(0, 0, 6, OFFSETS, 'published') == [0, 0, 1, 2]
  assert supporting_frame_numbers(5, 0, 6, OFFSETS, 'published') == [3, 4, 5, 5]
  assert supporting_frame_numbers(7, 7, 1, OFFSETS, 'published') == [7, 7, 7, 7]


def test_published_rule_general_offsets_and_order():
  # Distance 4 (offsets +-1..+-3): two previous frames fill the farthest slots.
  assert supporting_frame_numbers(3, 1, 20, (-3, -2, -1, 1, 2, 3), 'published') == [
      1, 2, 3, 4, 5, 6]
  assert supporting_frame_numbers(19, 1, 20, (-3, -2, -1, 1, 2, 3), 'published') == [
      16, 17, 18, 20, 20, 20]
  # Non-contiguous offsets: only the existing ones fill, in the same order.
  assert supporting_frame_numbers(3, 1, 20, (-4, -2, 2, 4), 'published') == [1, 3, 5, 7]
  # Results follow the configured order, whatever it is.
  assert supporting_frame_numbers(10, 1, 20, (1, -1, 2, -2), 'published') == [11, 9, 12, 8]


def test_clamp_rule():
  assert supporting_frame_numbers(2, 1, 6, OFFSETS, 'clamp') == [1, 1, 3, 4]
  assert supporting_frame_numbers(6, 1, 6, OFFSETS, 'clamp') == [4, 5, 6, 6]
  assert supporting_frame_numbers(5, 1, 6, OFFSETS, 'clamp') == [3, 4, 6, 6]


def test_bad_arguments():
  with pytest.raises(ValueError, match='boundary_rule'):
    supporting_frame_numbers(2, 1, 6, OFFSETS, 'mirror')
  with pytest.raises(ValueError, match='outside the video'):
    supporting_frame_numbers(7, 1, 6, OFFSETS, 'published')


def test_frame_naming():
  pt17 = parse_frame_name('images/val/000342_mpii_test/00000017.jpg')
  assert (pt17.number, pt17.digits, pt17.first_number) == (17, 8, 1)
  assert pt17.path_of(5) == 'images/val/000342_mpii_test/00000005.jpg'
  pt18 = parse_frame_name('images/val/000342_mpii_test/000000.jpg')
  assert (pt18.number, pt18.digits, pt18.first_number) == (0, 6, 0)
  assert pt18.path_of(12) == 'images/val/000342_mpii_test/000012.jpg'
  assert parse_frame_name('a/000003.jpg', 'from1').first_number == 1
  with pytest.raises(ValueError, match='frame number'):
    parse_frame_name('images/val/v/frame_3.jpg')
