"""Decoding: argmax + quarter offset, DARK, SimCC, flip test, back-projection, joint scores."""

import cv2
import jax
import numpy as np
import pytest

from configs import posetrack17
from data_pipeline import crop_affine
from data_pipeline import joints
from famipose_jax.heads import decoding
from famipose_jax.heads import heatmap as heatmap_head
from famipose_jax.heads import heatmap_peaks
from famipose_jax.heads import simcc as simcc_head

H, W = 64, 48


def _gaussian_map(x0, y0, sigma=2.0, h=H, w=W):
  y, x = np.mgrid[0:h, 0:w]
  return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def _maps(points, h=H, w=W, sigma=2.0):
  """[1, h, w, K] heatmaps with one Gaussian per (x, y) point."""
  return np.stack([_gaussian_map(x, y, sigma, h, w) for x, y in points], axis=-1)[None]


def _quarter_reference(maps):
  """Loop version of the published post-processing, written out for the test. maps [h, w]."""
  h, w = maps.shape
  index = int(np.argmax(maps))
  peak = maps.reshape(-1)[index]
  x, y = (float(index % w), float(index // w)) if peak > 0 else (0.0, 0.0)
  px, py = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
  if 1 < px < w - 1 and 1 < py < h - 1:
    x += 0.25 * np.sign(maps[py, px + 1] - maps[py, px - 1])
    y += 0.25 * np.sign(maps[py + 1, px] - maps[py - 1, px])
  return x, y


def _dark_reference(maps, kernel=11):
  """DARK with OpenCV's blur on a zero-padded copy, float64, for the test. maps [h, w]."""
  h, w = maps.shape
  index = int(np.argmax(maps))
  x, y = index % w, index // w
  border = kernel // 2
  padded = np.zeros((h + 2 * border, w + 2 * border))
  padded[border:-border, border:-border] = maps
  blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:-border, border:-border]
  blurred *= maps.max() / blurred.max()
  lm = np.log(np.maximum(blurred, 1e-10))
  dx = 0.5 * (lm[y, x + 1] - lm[y, x - 1])
  dy = 0.5 * (lm[y + 1, x] - lm[y - 1, x])
  dxx = 0.25 * (lm[y, x + 2] - 2 * lm[y, x] + lm[y, x - 2])
  dyy = 0.25 * (lm[y + 2, x] - 2 * lm[y, x] + lm[y - 2, x])
  dxy = 0.25 * (lm[y + 1, x + 1] - lm[y - 1, x + 1] - lm[y + 1, x - 1] + lm[y - 1, x - 1])
  hessian = np.array([[dxx, dxy], [dxy, dyy]])
  return np.array([x, y], np.float64) - np.linalg.solve(hessian, [dx, dy])


def test_quarter_offset_on_a_subpixel_gaussian():
  # Peak at (20.3, 30.7): argmax (20, 31); the larger neighbours are x=21 and y=30.
  coords, maxvals = heatmap_peaks.decode_heatmaps(_maps([(20.3, 30.7)]), quarter_step=0.25,
                                             dark=False, dark_kernel_size=11)
  np.testing.assert_array_equal(np.asarray(coords)[0, 0], [20.25, 30.75])
  np.testing.assert_allclose(np.asarray(maxvals)[0, 0],
                             np.exp(-(0.3 ** 2 + 0.3 ** 2) / 8), rtol=1e-6)


def test_dark_is_much_closer_than_the_quarter_offset():
  truth = np.array([[20.3, 30.7], [11.45, 40.1], [30.8, 15.35]])
  maps = _maps(truth)
  quarter, _ = heatmap_peaks.decode_heatmaps(maps, quarter_step=0.25, dark=False,
                                             dark_kernel_size=11)
  dark, _ = heatmap_peaks.decode_heatmaps(maps, quarter_step=0.25, dark=True, dark_kernel_size=11)
  quarter_error = np.abs(np.asarray(quarter)[0] - truth).max()
  dark_error = np.abs(np.asarray(dark)[0] - truth).max()
  assert 0.04 < quarter_error <= 0.25
  assert dark_error < 0.01
  # And it is DARK as published: OpenCV's blur on a zero-padded map, then one Newton step.
  for k in range(3):
    np.testing.assert_allclose(np.asarray(dark)[0, k], _dark_reference(maps[0, :, :, k]),
                               atol=2e-4)


def test_decoding_matches_the_published_loop_on_random_maps_under_jit():
  rng = np.random.default_rng(0)
  maps = rng.normal(size=(3, 9, 7, 5)).astype(np.float32)
  maps[0, :, :, 0] = -1.0 - rng.uniform(size=(9, 7))   # max <= 0: coordinates zeroed
  maps[1, :, :, 1] = 0.0
  maps[1, 4, 1, 1] = 1.0                                # peak in column 1: no step (1 < px)
  decode = jax.jit(lambda m: heatmap_peaks.decode_heatmaps(m, quarter_step=0.25, dark=False,
                                                      dark_kernel_size=11))
  coords, maxvals = decode(maps)
  for b in range(3):
    for k in range(5):
      np.testing.assert_array_equal(np.asarray(coords)[b, k], _quarter_reference(maps[b, :, :, k]))
  np.testing.assert_array_equal(np.asarray(coords)[0, 0], [0, 0])
  np.testing.assert_array_equal(np.asarray(coords)[1, 1], [1, 4])
  np.testing.assert_array_equal(np.asarray(maxvals), maps.max(axis=(1, 2)))


def _simcc_target(coordinate, bins, split_ratio, sigma):
  """The data pipeline's 1-D target: a Gaussian at k*x over the bins, scaled by
  1/(sigma sqrt(2 pi))."""
  centres = np.arange(bins, dtype=np.float64)
  return np.exp(-(centres - split_ratio * coordinate) ** 2 / (2 * sigma ** 2)) / (
      sigma * np.sqrt(2 * np.pi))


def test_simcc_round_trip():
  k, sigma = 2.0, 6.0
  points = np.array([[100.3, 200.8], [0.2, 383.0], [287.4, 10.0]])
  x = np.stack([_simcc_target(px, 576, k, sigma) for px, _ in points])[None]
  y = np.stack([_simcc_target(py, 768, k, sigma) for _, py in points])[None]
  # Logits = log of the target, so the softmax is the target renormalised.
  coords, scores = simcc_head.decode_simcc(np.log(x + 1e-30), np.log(y + 1e-30), split_ratio=k)
  # Bins round(k x): 200.6 -> 201, 401.6 -> 402; 0.4 -> 0, 766 -> 766; 574.8 -> 575, 20 -> 20.
  np.testing.assert_array_equal(np.asarray(coords)[0],
                                [[100.5, 201.0], [0.0, 383.0], [287.5, 10.0]])
  expected = np.minimum((x / x.sum(-1, keepdims=True)).max(-1),
                        (y / y.sum(-1, keepdims=True)).max(-1))[0]
  np.testing.assert_allclose(np.asarray(scores)[0], expected, rtol=1e-5)


def _symmetric_pose(w):
  """A pose symmetric about the heatmap's mirror axis x -> w - 1 - x (left/right swapped)."""
  points = np.zeros((joints.NUM_JOINTS, 2))
  axis = (w - 1) / 2
  for slot in (0, 1, 2):
    points[slot] = (axis, 5 + 4 * slot)
  for i, (left, right) in enumerate(joints.FLIP_PAIRS):
    points[left] = (axis - 3 - 2 * i, 10 + 7 * i)
    points[right] = (axis + 3 + 2 * i, 10 + 7 * i)
  return points


def test_flip_back_of_a_symmetric_pose():
  maps = _maps(_symmetric_pose(W))
  maps[maps < 1e-20] = 0.0   # XLA on CPU flushes denormals; keep the comparisons exact
  # What the network sees on the mirrored input is the same pose: flipping back is identity.
  back = np.asarray(heatmap_head.flip_back_heatmaps(maps, joints.FLIP_PAIRS, shift=False))
  np.testing.assert_array_equal(back, maps)
  shifted = np.asarray(heatmap_head.flip_back_heatmaps(maps, joints.FLIP_PAIRS, shift=True))
  np.testing.assert_array_equal(shifted[:, :, 1:], maps[:, :, :-1])
  np.testing.assert_array_equal(shifted[:, :, 0], maps[:, :, 0])
  # An asymmetric map: the left wrist's map (slot 9) moves to slot 10, mirrored.
  one = np.zeros((1, H, W, joints.NUM_JOINTS), np.float32)
  one[0, 12, 5, 9] = 1.0
  back = np.asarray(heatmap_head.flip_back_heatmaps(one, joints.FLIP_PAIRS, shift=False))
  assert np.argwhere(back[0] == 1.0).tolist() == [[12, W - 1 - 5, 10]]

  outputs = {'heatmaps': maps, 'backbone_heatmaps': maps * 0.5}
  fused = decoding.fuse_flipped_outputs(outputs, outputs, joints.FLIP_PAIRS, shift_heatmap=False)
  np.testing.assert_array_equal(np.asarray(fused['heatmaps']), maps)
  np.testing.assert_array_equal(np.asarray(fused['backbone_heatmaps']), maps * 0.5)

  bins = 96
  vectors = np.zeros((1, joints.NUM_JOINTS, bins), np.float32)
  vectors[0, :3, [47, 48]] = 1.0                  # centre joints: symmetric about the middle
  for i, (left, right) in enumerate(joints.FLIP_PAIRS):
    vectors[0, left, 40 - 2 * i] = 1.0
    vectors[0, right, bins - 1 - (40 - 2 * i)] = 1.0
  y = np.random.default_rng(0).normal(size=(1, joints.NUM_JOINTS, 8)).astype(np.float32)
  back_x, back_y = simcc_head.flip_back_simcc(vectors, y, joints.FLIP_PAIRS)
  np.testing.assert_array_equal(np.asarray(back_x), vectors)
  perm = joints.flip_permutation(joints.NUM_JOINTS, joints.FLIP_PAIRS)
  np.testing.assert_array_equal(np.asarray(back_y), y[:, perm])
  assert perm.tolist() == [0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
  np.testing.assert_array_equal(np.asarray(decoding.flip_images(maps[..., :3])),
                                maps[:, :, ::-1, :3])


@pytest.mark.parametrize('rotation', [0.0, 90.0])
def test_back_projection_of_crop_centre_and_corners(rotation):
  center = np.array([[320.0, 240.0]])
  scale = np.array([[1.2, 1.6]])     # 240 x 320 px at pixel_std 200 (aspect 0.75)
  crop = np.array([[[36.0, 48.0], [0.0, 0.0], [72.0, 96.0], [72.0, 0.0]]])
  image = decoding.to_image_coords(crop, center, scale, [rotation], crop_size=(72, 96),
                                   pixel_std=200.0)
  half_w, half_h = 120.0, 160.0
  if rotation == 0.0:
    expected = [[320, 240], [320 - half_w, 240 - half_h], [320 + half_w, 240 + half_h],
                [320 + half_w, 240 - half_h]]
  else:  # a quarter turn: the crop's top-left corner lands at the image's top-right
    expected = [[320, 240], [320 + half_h, 240 - half_w], [320 - half_h, 240 + half_w],
                [320 + half_h, 240 + half_w]]
  np.testing.assert_allclose(image[0], expected, atol=1e-3)
  # The inverse undoes the forward crop affine used by the data pipeline.
  forward = crop_affine.crop_affine(center[0], scale[0], rotation, (72, 96), 200.0)
  np.testing.assert_allclose(crop_affine.apply_affine(image[0], forward), crop[0], atol=1e-3)


def test_make_decoder_joint_scores_and_image_keypoints():
  config = posetrack17.get_config()
  h, w = 96, 72
  maps = np.stack([_gaussian_map(20.0, 30.0, 3.0, h, w) * 0.8] * joints.NUM_JOINTS, -1)[None]
  outputs = {'heatmaps': maps, 'backbone_heatmaps': maps}
  decoded = jax.jit(decoding.make_decoder(config))(outputs)
  coords, maxvals = decoded['final']
  np.testing.assert_allclose(np.asarray(coords)[0, 0], [80.0, 120.0])   # x4: input pixels
  np.testing.assert_allclose(np.asarray(decoded['backbone'][0]), np.asarray(coords))
  batch = {'center': np.array([[144.0, 192.0]]), 'scale': np.array([[1.44, 1.92]]),
           'rotation': np.zeros(1), 'box_score': np.array([0.5])}
  keypoints = decoding.image_keypoints(coords, maxvals, batch, config)
  # A 288 x 384 box centred on the 288 x 384 crop: image = crop coordinates.
  np.testing.assert_allclose(keypoints[0, 0], [80.0, 120.0, 0.4], rtol=1e-5)
  np.testing.assert_allclose(decoding.joint_scores([[0.8]], [0.5], 'raw'), [[0.8]])
  with pytest.raises(ValueError, match='joint_score'):
    decoding.joint_scores([[0.8]], [0.5], 'product')

  config.model.head = 'simcc'
  x = np.full((1, joints.NUM_JOINTS, 576), -5.0, np.float32)
  y = np.full((1, joints.NUM_JOINTS, 768), -5.0, np.float32)
  x[..., 161], y[..., 241] = 5.0, 5.0
  coords, _ = decoding.make_decoder(config)({'simcc_x': x, 'simcc_y': y})['final']
  np.testing.assert_array_equal(np.asarray(coords)[0, 3], [80.5, 120.5])
