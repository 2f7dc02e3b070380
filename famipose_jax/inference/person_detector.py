"""An offline person detector: Dalal & Triggs' HOG people SVM over an image pyramid, then NMS.

It needs no weights from the network (the SVM ships with the package, see `hog`), and it is a
pedestrian detector: it finds upright people seen whole, head to feet, and misses people seen
from the waist up, sitting, lying or heavily occluded; it also fires now and then on upright
textured objects. Give a box file (`person_boxes.read_box_file`) when a better detector's boxes
are at hand; the tracker's `min_track_length` removes detections that flicker.

What a box means: the SVM scores 64x128 windows whose person, as in Dalal & Triggs' training
crops, is about 96 pixels tall with a 16-pixel margin on every side. A detection's box is its
window less that margin: (x + w/4, y + h/8, w/2, 3h/4) of the window, head top to feet and
about a third as wide as tall, so outstretched arms may reach past its sides (the pose model's
crop widens a box to the input's aspect ratio and enlarges it, which takes them back in).

Score: the logistic of the SVM's decision value, 1 / (1 + exp(-margin)); 0.5 on the SVM's
decision boundary (OpenCV's default hit threshold), about 0.73 at margin 1 and 0.88 at margin 2.
It ranks detections; it is not a calibrated probability.

Scales: a frame is resized by 96 / `min_size` (so a person `min_size` pixels tall fills the
window's 96-pixel body), never enlarged when `upscale` is False and, when it is True, enlarged at
least to the window's size if smaller. Windows are then searched every 8 pixels on a pyramid of
scale steps of `scale_step` (1.05 as OpenCV), down to where the frame is one window tall or wide.
With the defaults a 1280x720 frame has 36 levels, about 10 times its pixels, and takes about
0.3 s on one core of a 2-core AMD EPYC (BENCHMARKS.md); a larger `min_size` or `scale_step`
makes it faster.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np
import threadpoolctl

from famipose_jax.inference import hog
from famipose_jax.inference.person_boxes import PersonBox, iou_matrix
from famipose_jax import errors

_BODY_HEIGHT = 96          # pixels of the 128-pixel window the person fills (INRIA crops)


def margin_to_score(margin):
  """Detector score in (0, 1) of an SVM decision value (the logistic)."""
  return 1.0 / (1.0 + np.exp(-np.asarray(margin, np.float64)))


def window_to_body(window) -> tuple[float, float, float, float]:
  """The body box (x, y, w, h) of a detection window (x, y, w, h): the window less its margin."""
  x, y, w, h = window
  return (x + w / 4, y + h / 8, w / 2, h * 3 / 4)


def non_max_suppression(boxes, scores, iou_threshold: float) -> list[int]:
  """Indices of the boxes kept by greedy NMS, best score first (ties: the earlier box).

  Args:
    boxes: [N, 4] x, y, width, height.
    scores: [N].
    iou_threshold: a box overlapping a kept, better one by more than this is dropped.
  """
  order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  kept = []
  for i in order:
    # Against the kept boxes only: memory stays O(N) even for many candidates.
    if not kept or iou_matrix(boxes[i], boxes[kept]).max() <= iou_threshold:
      kept.append(int(i))
  return kept


def detect_people(frame_bgr: np.ndarray, *, score_threshold: float = 0.5, nms_iou: float = 0.4,
                  min_size: float = 96.0, upscale: bool = True, scale_step: float = 1.05
                  ) -> list[PersonBox]:
  """Person boxes in one frame (see the module docstring for what boxes and scores mean).

  Args:
    frame_bgr: [H, W, 3] uint8 BGR (as cv2 reads it) or [H, W] uint8 grey.
    score_threshold: least score kept (0.5: SVM margin 0).
    nms_iou: NMS overlap threshold between body boxes.
    min_size: height in frame pixels of the smallest person searched for.
    upscale: whether the frame may be enlarged (for min_size < 96, or frames smaller than the
      64x128 window); without it smaller people are missed, and the search is faster.
    scale_step: ratio between pyramid levels (> 1).

  Returns:
    PersonBox records (no track ids), best score first.
  """
  if min_size <= 0 or scale_step <= 1:
    raise errors.InvalidInputError(
        f'min_size must be > 0 and scale_step > 1, got {min_size}, {scale_step}')
  frame = np.asarray(frame_bgr)
  if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
    raise errors.InvalidInputError(
        f'frame should be [H, W, 3] or [H, W] uint8, got {frame.shape} '
        f'{frame.dtype}')
  height, width = frame.shape[:2]
  factor = _BODY_HEIGHT / min_size
  if upscale:
    factor = max(factor, hog.WINDOW_HEIGHT / height, hog.WINDOW_WIDTH / width)
  else:
    factor = min(factor, 1.0)
  windows, margins = [], []
  with _one_blas_thread():
    for size in _pyramid_sizes(width, height, factor, scale_step):
      image = frame if size == (width, height) else cv2.resize(frame, size,
                                                               interpolation=cv2.INTER_LINEAR)
      scores = hog.window_scores(image)
      rows, cols = np.nonzero(margin_to_score(scores) >= score_threshold)
      # A window's frame coordinates; the resize scaled each axis by size / frame size.
      sx, sy = size[0] / width, size[1] / height
      for r, c in zip(rows, cols):
        windows.append((c * hog.STRIDE / sx, r * hog.STRIDE / sy,
                        hog.WINDOW_WIDTH / sx, hog.WINDOW_HEIGHT / sy))
        margins.append(float(scores[r, c]))
  bodies = [window_to_body(w) for w in windows]
  scores = margin_to_score(margins)
  return [PersonBox(box=tuple(float(v) for v in bodies[i]), score=float(scores[i]))
          for i in non_max_suppression(bodies, scores, nms_iou)]


def _pyramid_sizes(width: int, height: int, factor: float, scale_step: float):
  """The (width, height) of each pyramid level, from `factor` down by `scale_step` while the
  level holds a window."""
  level = factor
  while round(height * level) >= hog.WINDOW_HEIGHT and round(width * level) >= hog.WINDOW_WIDTH:
    yield round(width * level), round(height * level)
    level /= scale_step


@functools.cache
def _blas_controller() -> threadpoolctl.ThreadpoolController:
  return threadpoolctl.ThreadpoolController()


def _one_blas_thread():
  """A context with BLAS (numpy's and OpenCV's OpenBLAS) on one thread.

  The pyramid's matrix products are small and many: OpenBLAS's worker threads spin between
  them, keeping the second core busy for nothing. On a 2-core machine one thread took the
  detector from 0.42 to 0.29 s per 720p frame and halved its CPU time (see BENCHMARKS.md).
  """
  return _blas_controller().limit(limits=1, user_api='blas')


@dataclasses.dataclass(frozen=True)
class PersonDetector:
  """`detect_people` with its settings held, called once per frame."""
  score_threshold: float = 0.5
  nms_iou: float = 0.4
  min_size: float = 96.0
  upscale: bool = True
  scale_step: float = 1.05

  def __call__(self, frame_bgr: np.ndarray) -> list[PersonBox]:
    return detect_people(frame_bgr, **dataclasses.asdict(self))
