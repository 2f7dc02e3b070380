"""Crop affines, flips, the colour swap and reduced decoding, pinned to exact values."""

import cv2
import numpy as np
import pytest

from data_pipeline import crop_affine
from data_pipeline.augment import ClipAugmentation
from data_pipeline import clip_transform as ct

INPUT = (288, 384)


def _aug(flip=False, rotation=0.0, center=(400.0, 300.0), scale=(1.2, 1.6)):
  return ClipAugmentation(center=np.array(center, np.float32),
                          scale=np.array(scale, np.float32), rotation=rotation, flip=flip)


def test_size_convention_is_crop_affine():
  aug = _aug(rotation=17.0)
  np.testing.assert_allclose(
      ct.crop_matrix(aug, 1280, INPUT, 200.0, 'size'),
      crop_affine.crop_affine(aug.center, aug.scale, 17.0, INPUT, 200.0), atol=1e-9)


def test_size_minus_one_convention_maps_centre_and_span():
  aug = _aug()
  matrix = ct.crop_matrix(aug, 1280, INPUT, 200.0, 'size_minus_one')
  # dark_get_affine_transform: centre -> ((W-1)/2, (H-1)/2); (s*200 - 1)/2 pixels up -> (W-1)/2
  # pixels up in the crop.
  np.testing.assert_allclose(crop_affine.apply_affine([400.0, 300.0], matrix), [143.5, 191.5],
                             atol=1e-4)
  top = [400.0, 300.0 - (1.2 * 200 - 1) / 2]
  np.testing.assert_allclose(crop_affine.apply_affine(top, matrix), [143.5, 48.0], atol=1e-3)
  np.testing.assert_allclose(matrix[0, 0], 287 / 239, rtol=1e-5)


@pytest.mark.parametrize('convention', ['size_minus_one', 'size'])
@pytest.mark.parametrize('output_size', [INPUT, (72, 96)])
def test_inverse_round_trip_within_a_hundredth_of_a_pixel(convention, output_size):
  rng = np.random.default_rng(0)
  points = rng.uniform(-50, 1300, size=(200, 2))
  for flip in (False, True):
    for rotation in (0.0, -37.5, 81.0):
      aug = _aug(flip=flip, rotation=rotation)
      forward = ct.crop_matrix(aug, 1280, output_size, 200.0, convention)
      back = ct.crop_matrix(aug, 1280, output_size, 200.0, convention, inverse=True)
      again = crop_affine.apply_affine(crop_affine.apply_affine(points, forward), back)
      assert np.abs(again - points).max() < 0.01


def test_flip_twice_is_the_identity():
  mirror = ct.mirror_matrix(1280)
  np.testing.assert_array_equal(mirror @ mirror, np.eye(3))
  rng = np.random.default_rng(1)
  joints = np.concatenate([rng.uniform(0, 700, (17, 2)), np.ones((17, 1))], 1).astype(np.float32)
  joints[3:5] = 0
  once = ct.flip_joints(joints, 1280, ((3, 4), (5, 6), (7, 8)))
  np.testing.assert_allclose(once[6], [1279 - joints[5, 0], joints[5, 1], 1])
  np.testing.assert_array_equal(once[3:5], 0)
  np.testing.assert_allclose(ct.flip_joints(once, 1280, ((3, 4), (5, 6), (7, 8))), joints,
                             atol=1e-4)


def test_flipped_crop_matches_the_published_flip_then_crop():
  rng = np.random.default_rng(2)
  coarse = rng.integers(0, 256, (45, 80, 3), dtype=np.uint8)
  frame = cv2.resize(coarse, (640, 360), interpolation=cv2.INTER_CUBIC)
  aug = _aug(flip=True, rotation=12.0, center=(250.0, 170.0), scale=(0.9, 1.2))
  ours = ct.warp_frame(frame, ct.crop_matrix(aug, 640, INPUT, 200.0), INPUT)
  # Published: mirror the frame, mirror the centre (x -> W - 1 - x), crop without flip.
  mirrored = ClipAugmentation(center=np.array([640 - 1 - 250.0, 170.0], np.float32),
                              scale=aug.scale, rotation=12.0, flip=False)
  published = ct.warp_frame(np.ascontiguousarray(frame[:, ::-1]),
                            ct.crop_matrix(mirrored, 640, INPUT, 200.0), INPUT)
  difference = np.abs(ours.astype(int) - published.astype(int))
  assert difference.max() <= 1            # OpenCV's fixed-point weights may round differently
  assert np.mean(difference == 0) > 0.95


def test_crop_joints_flip_swaps_slots_and_hides_outside():
  joints = np.zeros((17, 3), np.float32)
  joints[5] = (420.0, 250.0, 1)            # left shoulder
  joints[6] = (380.0, 250.0, 1)            # right shoulder
  joints[9] = (3000.0, 250.0, 1)           # far outside the crop
  aug = _aug(flip=True, rotation=0.0)
  out = ct.crop_joints(joints, aug, 1280, INPUT, 200.0, 'size', ((5, 6), (9, 10)))
  matrix = ct.crop_matrix(aug, 1280, INPUT, 200.0, 'size')
  np.testing.assert_allclose(out[6, :2], crop_affine.apply_affine(joints[5, :2], matrix),
                             atol=1e-3)
  np.testing.assert_allclose(out[5, :2], crop_affine.apply_affine(joints[6, :2], matrix),
                             atol=1e-3)
  assert out[5, 2] == out[6, 2] == 1
  np.testing.assert_array_equal(out[10], 0)   # the flipped far joint: outside -> invisible
  assert out[:, 2].sum() == 2


def test_colour_swap_writes_rgb_into_the_batch_slot():
  rng = np.random.default_rng(3)
  crop = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
  slot = np.zeros((5, 7, 3), np.uint8)
  out = ct.bgr_to_rgb(crop, out=slot)
  assert out is slot and slot.dtype == np.uint8
  np.testing.assert_array_equal(slot, crop[..., ::-1])
  np.testing.assert_array_equal(ct.bgr_to_rgb(crop), crop[..., ::-1])


def test_reduced_decode_matrix():
  matrix = np.array([[0.5, 0.0, -10.0], [0.0, 0.5, -20.0]])
  reduced = ct.reduced_frame_matrix(matrix, 2)
  # Reduced pixel (i, j) covers full pixels 2i, 2i + 1: its centre is 2i + 0.5.
  np.testing.assert_allclose(crop_affine.apply_affine([3.0, 4.0], reduced),
                             crop_affine.apply_affine([6.5, 8.5], matrix))
  assert ct.reduced_frame_matrix(matrix, 1) is matrix
