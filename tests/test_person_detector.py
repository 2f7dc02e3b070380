"""The HOG person detector: OpenCV 4's window scores, a person found, nothing on a blank frame."""

import functools

import cv2
import numpy as np
import pytest
import skimage.data

from data_pipeline.synthetic import render, skeleton
from famipose_jax.inference import hog
from famipose_jax.inference.person_boxes import iou_matrix
from famipose_jax.inference.person_detector import (PersonDetector, detect_people,
                                                    margin_to_score, non_max_suppression,
                                                    window_to_body)
from tests import hog_reference

# The astronaut's box, read off the picture by eye: hair top to the bottom edge, left arm to
# the right side of her suit.
ASTRONAUT_BOX = (20, 15, 345, 497)


def _astronaut_bgr():
  return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])


def _standing_person(background):
  """A standing figure 150 pixels tall pasted on a 320x240 BGR background; (image, box)."""
  def pair(v):
    return np.array([v, v], np.float64)
  pose = skeleton.Pose(
      x=np.float64(160), ground=np.float64(210), height=np.float64(150), yaw=np.float64(0.5),
      lean=np.float64(0), bend=np.float64(0), head_tilt=np.float64(0), head_yaw=np.float64(0.5),
      arm_abduction=pair(0.25), arm_flexion=pair(0), elbow=pair(0.3), forearm_abduction=pair(0),
      leg_abduction=pair(0.08), leg_flexion=pair(0), knee=pair(0))
  figure = skeleton.pose_figure(skeleton.Body(), pose)
  look = render.Appearance(skin=(160, 190, 230), hair=(30, 45, 70), shirt=(60, 140, 60),
                           trousers=(140, 80, 40), shoe=(40, 40, 40), sleeves='long',
                           shorts=False)
  image = background.copy()
  render.draw_figure(image, None, figure, look)
  x1, y1, x2, y2 = figure.box
  return image, (x1, y1, x2 - x1, y2 - y1)


@pytest.mark.parametrize('name, x, y, score', [
    # OpenCV 4.14: HOGDescriptor() with getDefaultPeopleDetector(), detect(image,
    # winStride=(8, 8), padding=(0, 0)); (x, y) is the window's top-left corner.
    ('astronaut', 312, 264, -0.2313816261012107),
    ('astronaut', 320, 352, -0.44837389583699405),
    ('astronaut', 392, 296, -10.178697548923083),
    ('camera', 256, 184, -0.7077699727378786),
    ('camera', 200, 192, -0.8027131573762745),
])
def test_window_scores_match_opencv4(name, x, y, score):
  scores = _window_scores(name)
  assert scores.shape == ((512 - 128) // 8 + 1, (512 - 64) // 8 + 1)
  assert scores[y // 8, x // 8] == pytest.approx(score, abs=1e-4)


@functools.cache
def _window_scores(name):
  image = getattr(skimage.data, name)()        # 512x512, colour (RGB) or grey
  return hog.window_scores(np.ascontiguousarray(image[:, :, ::-1]) if image.ndim == 3 else image)


def _photographs():
  rng = np.random.default_rng(0)
  astronaut = _astronaut_bgr()
  return {'astronaut': astronaut,
          'camera (grey)': skimage.data.camera(),
          '720p': cv2.resize(np.tile(astronaut, (1, 2, 1)), (1280, 720)),
          'odd size': cv2.resize(astronaut, (333, 217)),     # not whole tiles either way
          'noise': rng.integers(0, 256, (200, 150, 3)).astype(np.uint8),
          'noise (grey)': rng.integers(0, 256, (131, 77)).astype(np.uint8),
          'flat': np.full((130, 70, 3), 90, np.uint8)}


@pytest.mark.parametrize('name', list(_photographs()))
def test_blocks_match_the_direct_reference(name):
  # The strips, per-bin planes and separable weights reorder float32 sums, and the bins come
  # from a shifted position: 1e-6 on entries of norm 1 (8.7e-7 seen), 1e-5 on window scores.
  image = _photographs()[name]
  blocks = hog.block_descriptors(image)
  np.testing.assert_allclose(blocks, hog_reference.block_descriptors(image), atol=2e-6)
  assert blocks.shape == (image.shape[0] // 8 - 1, image.shape[1] // 8 - 1, 36)
  # Strips are a matter of speed only: any height gives the same bits.
  np.testing.assert_array_equal(hog.block_descriptors(image, strip_tiles=1), blocks)
  np.testing.assert_array_equal(hog.block_descriptors(image, strip_tiles=1000), blocks)


def test_finds_a_standing_person_on_a_photograph():
  # A drawn figure on the astronaut photograph's top-left corner (flag, wall, her head).
  image, person = _standing_person(_astronaut_bgr()[:240, :320])
  found = detect_people(image)
  assert len(found) == 1
  assert found[0].track_id is None
  assert iou_matrix(found[0].box, person)[0, 0] > 0.8          # 0.859 when written
  assert found[0].score == pytest.approx(0.643, abs=0.01)
  np.testing.assert_allclose(found[0].box, (136.7, 61.9, 49.7, 148.6), atol=0.5)


def test_waist_up_portrait_is_not_a_pedestrian():
  # HOG looks for whole upright bodies: on the astronaut's waist-up portrait it does not frame
  # her; its only hits, at the default threshold, are on the helmet she holds.
  found = detect_people(_astronaut_bgr())
  assert len(found) == 2
  assert [round(p.score, 2) for p in found] == [0.72, 0.60]
  assert iou_matrix([p.box for p in found], ASTRONAUT_BOX).max() < 0.05


def test_nothing_on_a_blank_frame():
  assert not detect_people(np.zeros((240, 320, 3), np.uint8))
  assert not detect_people(np.full((240, 320), 200, np.uint8))


def test_small_person_needs_upscaling():
  image, person = _standing_person(np.full((240, 320, 3), 150, np.uint8))
  small = cv2.resize(image, (160, 120), interpolation=cv2.INTER_AREA)   # person 74 px tall
  assert not detect_people(small, min_size=64, upscale=False)
  found = detect_people(small, min_size=64, upscale=True)
  assert len(found) == 1
  assert iou_matrix(found[0].box, np.divide(person, 2))[0, 0] > 0.8   # 0.855 when written


def test_detector_object_holds_the_settings():
  image, _ = _standing_person(np.full((240, 320, 3), 150, np.uint8))
  detector = PersonDetector(score_threshold=0.6, min_size=120, upscale=False)
  assert detector(image) == detect_people(image, score_threshold=0.6, min_size=120,
                                          upscale=False)
  assert PersonDetector(score_threshold=0.99)(image) == []


def test_non_max_suppression():
  boxes = [(0, 0, 10, 20), (1, 0, 10, 20), (30, 0, 10, 20), (0, 1, 10, 20), (31, 0, 10, 20)]
  scores = [0.6, 0.9, 0.7, 0.9, 0.5]
  # Box 1 (first of the two best) suppresses 0 and 3; box 2 suppresses 4.
  assert non_max_suppression(boxes, scores, 0.5) == [1, 2]
  assert non_max_suppression(boxes, scores, 0.95) == [1, 3, 2, 0, 4]
  assert non_max_suppression([], [], 0.5) == []


def test_score_and_box_conventions():
  assert margin_to_score(0.0) == 0.5
  assert margin_to_score(1.0) == pytest.approx(0.7311, abs=1e-4)
  assert window_to_body((8, 16, 64, 128)) == (24, 32, 32, 96)
  with pytest.raises(ValueError, match=r'uint8'):
    detect_people(np.zeros((240, 320, 3), np.float32))
