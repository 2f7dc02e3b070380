"""Heatmap and SimCC targets: exact values as published."""

import numpy as np

from famipose_jax.heads import heatmap as heatmap_head
from famipose_jax.heads import simcc as simcc_head

IMAGE = (288, 384)
HEATMAP = (72, 96)


def _joints(*rows, k=3):
  joints = np.zeros((k, 3), np.float32)
  for i, row in enumerate(rows):
    joints[i] = row
  return joints


def test_heatmap_peak_centre_and_values():
  joints = _joints((17.0, 22.0, 1), (100.4, 201.9, 1), (50.0, 50.0, 0))
  heatmap, weight = heatmap_head.heatmap_targets(joints, IMAGE, HEATMAP, sigma=3.0)
  assert heatmap.shape == (96, 72, 3) and heatmap.dtype == np.float32
  np.testing.assert_array_equal(weight, [1, 1, 0])
  # centre = int(x / 4 + 0.5): (17, 22) -> (4, 6); (100.4, 201.9) -> (25, 50)
  assert np.unravel_index(np.argmax(heatmap[..., 0]), (96, 72)) == (6, 4)
  assert np.unravel_index(np.argmax(heatmap[..., 1]), (96, 72)) == (50, 25)
  assert heatmap[6, 4, 0] == 1.0
  np.testing.assert_allclose(heatmap[6, 5, 0], np.exp(-1 / 18), rtol=1e-6)
  np.testing.assert_allclose(heatmap[8, 7, 0], np.exp(-(4 + 9) / 18), rtol=1e-6)
  # The window is 6 sigma + 1 = 19 wide: nothing beyond 9 pixels from the centre.
  assert heatmap[6, 4 + 9, 0] > 0 and heatmap[6, 4 + 10, 0] == 0
  assert np.count_nonzero(heatmap[..., 1]) == 19 * 19
  assert not heatmap[..., 2].any()


def test_heatmap_window_outside_the_map():
  # mu_x = int(-200 / 4 + 0.5) = -49: the window ends before column 0 -> weight 0.
  joints = _joints((-200.0, 30.0, 1), (400.0, 30.0, 1), (30.0, 500.0, 1))
  heatmap, weight = heatmap_head.heatmap_targets(joints, IMAGE, HEATMAP, sigma=3.0)
  np.testing.assert_array_equal(weight, [0, 0, 0])
  assert not heatmap.any()


def test_heatmap_published_edge_quirk():
  # As coded the test is br < 0: a window ending exactly at column 0 keeps weight 1, empty map.
  # sigma 1: radius 3, mu_x = int(-16 / 4 + 0.5) = int(-3.5) = -3, br = int(-3 + 3 + 1) = 1;
  # mu_x = -4 (x = -18): br = 0 -> still weight 1.
  joints = _joints((-18.0, 20.0, 1), k=1)
  heatmap, weight = heatmap_head.heatmap_targets(joints, IMAGE, HEATMAP, sigma=1.0)
  assert weight[0] == 1 and not heatmap.any()


def test_simcc_targets():
  joints = _joints((10.3, 200.0, 1), (300.0, 10.0, 1), (5.0, 5.0, 0))
  sx, sy, weight = simcc_head.simcc_targets(joints, IMAGE, split_ratio=2.0, sigma=6.0)
  assert sx.shape == (3, 576) and sy.shape == (3, 768)
  norm = 1 / (6.0 * np.sqrt(2 * np.pi))
  assert np.argmax(sx[0]) == 21 and np.argmax(sy[0]) == 400     # round(20.6), round(400)
  np.testing.assert_allclose(sx[0, 21], norm, rtol=1e-6)
  np.testing.assert_allclose(sx[0, 27], norm * np.exp(-36 / 72), rtol=1e-6)
  np.testing.assert_allclose(sx[0].sum(), 1.0, atol=1e-3)       # a discretised density
  # x = 300 -> bin 600 > 575, window [582, 619) misses the 576 bins entirely.
  np.testing.assert_array_equal(weight, [1, 0, 0])
  assert not sx[1].any() and not sy[1].any() and not sx[2].any()


def test_simcc_has_no_subnormal_values():
  joints = _joints((0.0, 0.0, 1), k=1)
  sx, _, _ = simcc_head.simcc_targets(joints, IMAGE, split_ratio=2.0, sigma=6.0)
  nonzero = sx[sx != 0]
  assert nonzero.min() >= np.finfo(np.float32).tiny
  assert np.count_nonzero(sx) < sx.size
