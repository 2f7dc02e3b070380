"""PCK@0.2 normalised by max(box w, h), pinned by hand."""

import numpy as np
import pytest

from famipose_jax.evaluation import pck


def test_pck_per_joint_and_mean():
  gt = np.zeros((3, 3, 2))
  pred = np.zeros((3, 3, 2))
  # Sample 0: box 100 x 50 -> 20 px. Distances 10 (in), 20 (not: strictly below), 25 (out).
  pred[0] = [[10, 0], [0, 20], [15, 20]]
  # Sample 1: box 30 x 60 -> 12 px. 11.9 (in), joint 1 not visible, 0 (in).
  pred[1] = [[11.9, 0], [5, 0], [0, 0]]
  # Sample 2: an empty box is not scored at all.
  pred[2] = [[500, 500]] * 3
  visible = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)
  boxes = np.array([[0, 0, 100, 50], [5, 5, 30, 60], [0, 0, 0, 0]], np.float64)
  result = pck.compute_pck(pred, gt, visible, boxes, threshold=0.2)
  np.testing.assert_allclose(result.per_joint, [100.0, 0.0, 50.0])
  np.testing.assert_array_equal(result.counts, [2, 1, 2])
  assert result.mean == pytest.approx(50.0)
  # A joint never scored is NaN and left out of the mean.
  result = pck.compute_pck(pred[:2], gt[:2], np.array([[1, 0, 1], [1, 0, 1]], bool), boxes[:2],
                   threshold=0.2)
  assert np.isnan(result.per_joint[1]) and result.mean == pytest.approx(75.0)
  with pytest.raises(ValueError, match=r'\[N, K, 2\]'):
    pck.compute_pck(pred[:, :2], gt, visible, boxes, threshold=0.2)
