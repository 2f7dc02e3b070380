"""Poses on your own frames: a trained network, person boxes in, 17 keypoints per person out.

    predictor = Predictor.from_checkpoint('runs/demo')          # workdir, checkpoint, model folder
    poses = predictor.predict('clip.mp4', boxes)                # or a list of [H, W, 3] RGB arrays
    poses[t][i].keypoints                                       # [17, 3] image x, y, score

Each person's clip is cropped as evaluation crops it (`clip_crops`), the network runs in fixed-
size jitted batches (the last one padded, so one compilation serves a whole video), with the
flip test when the config (or `flip_test`) asks, and the decoded crop coordinates are mapped
back into the image with the published joint score (`decoding.image_keypoints`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterator, Sequence

import jax
import ml_collections
import numpy as np

from data_pipeline.coco_keypoints import box_problem
from data_pipeline.settings import DataSettings
from famipose_jax.heads import decoding
from famipose_jax import experiment as experiment_lib
from famipose_jax.runtime import progress as progress_lib
from famipose_jax.checkpoints import trained_model
from famipose_jax.inference import clip_crops
from famipose_jax.inference.person_boxes import PersonBox
from famipose_jax.inference import video_frames
from famipose_jax import errors


@dataclasses.dataclass
class PersonPose:
  """One person's pose in one frame.

  Attributes:
    keypoints: [17, 3] float64 image x, y and joint score (the config's eval.joint_score:
      the heatmap maximum times the box score, as published; what prediction files hold).
    box: [4] float64 the person box x, y, width, height it was predicted in.
    box_score: the box's score.
    track_id: the box's track id, or None.
    confidence: [17] float64 the network's own confidence per joint (the heatmap maximum,
      or the SimCC one), before the box score weighs in; what overlays colour by.
  """
  keypoints: np.ndarray
  box: np.ndarray
  box_score: float
  track_id: int | None = None
  confidence: np.ndarray | None = None


def _person_box(entry: Any, frame_size, where: str) -> PersonBox:
  """A PersonBox of a PersonBox-like object (.box, .score, .track_id) or of
  [x, y, w, h(, score)], checked like a box file's."""
  if hasattr(entry, 'box'):
    values, score = entry.box, getattr(entry, 'score', 1.0)
    track_id = getattr(entry, 'track_id', None)
  else:
    values = np.asarray(entry, np.float64).reshape(-1)
    if values.size not in (4, 5):
      raise errors.InvalidInputError(
          f'{where}: a box is [x, y, width, height] or [x, y, width, height, '
          f'score], got {np.asarray(entry).tolist()}')
    values, score, track_id = values[:4], (values[4] if values.size == 5 else 1.0), None
  values = tuple(float(v) for v in values)
  if len(values) != 4 or not np.all(np.isfinite(values)):
    raise errors.InvalidInputError(
        f'{where}: box {list(values)} needs four finite numbers x, y, width, height')
  problem = box_problem(values, *frame_size)
  if problem:
    raise errors.InvalidInputError(f'{where}: box {list(values)}: {problem}')
  return PersonBox(box=values, score=float(score),
                   track_id=None if track_id is None else int(track_id))


class Predictor:
  """A trained network, jitted once, predicting poses in person boxes of video frames."""

  def __init__(self, config: ml_collections.ConfigDict, variables: dict[str, Any], *,
               batch_size: int = 16, flip_test: bool | None = None, source: str | None = None):
    """
    Args:
      config: the experiment config the variables were trained with.
      variables: the network's {'params', 'batch_stats'}.
      batch_size: persons per network call (the last call is padded to it).
      flip_test: overrides config.eval.flip_test when not None.
      source: where the variables came from (shown to users), if from a folder.
    """
    if batch_size < 1:
      raise errors.InvalidInputError(f'batch_size must be >= 1, got {batch_size}')
    config = ml_collections.ConfigDict(config.to_dict())   # a private copy
    if flip_test is not None:
      config.eval.flip_test = bool(flip_test)
    self.config = config
    self.source = source
    self.batch_size = int(batch_size)
    self.experiment = experiment_lib.Experiment(config)
    self.cropper = clip_crops.ClipCropper(
        DataSettings.from_config(config.data, self.experiment.clip))
    self._predict = self.experiment.jit_predict()
    self._variables = jax.device_put(variables)

  @classmethod
  def from_checkpoint(cls, path: str, config: ml_collections.ConfigDict | None = None,
                      **options) -> 'Predictor':
    """A Predictor for the network in a workdir, a checkpoint folder or a model folder.

    `config` replaces the recorded one (needed only for a model folder without config.json);
    `options` are the constructor's (batch_size, flip_test).
    """
    model = trained_model.load_trained_model(path, config)
    return cls(model.config, model.variables, source=model.source, **options)

  @property
  def frame_window(self) -> int:
    """Frames a video source must keep: keys advance in order, and a clip reads its
    neighbours up to the largest supporting offset away on either side."""
    reach = max([abs(int(o)) for o in self.experiment.clip.offsets] + [0])
    return 2 * reach + 2

  # --- the network on crops ----------------------------------------------------------------

  def _empty_batch(self) -> dict[str, np.ndarray]:
    return self.experiment.empty_batch(self.batch_size)

  def predict_crops(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(coords [B, K, 2] in input-crop pixels, maxvals [B, K]) for uint8 RGB crops.

    `batch` holds the network's inputs (`experiment.input_shapes`): 'key_image' [B, H, W, 3]
    and, for a video family, 'supporting_images' [B, N, H, W, 3] (and
    'supporting_frame_offsets' [B, N] int32 where it reads them); B is any size (a new B
    compiles once more).
    """
    return _on_host(self._predict(self._variables, batch), len(batch['key_image']))

  def warm_up(self) -> None:
    """Compiles the network for this predictor's batch now (one call on an empty batch), so
    that a caller can do it while something else runs; `predict` would on its first batch."""
    self.predict_crops(self._empty_batch())

  # --- frames and boxes ----------------------------------------------------------------------

  def predict(self, frames: str | os.PathLike | Sequence[np.ndarray],
              boxes: Sequence[Sequence[Any]], *,
              show_progress: bool | None = False) -> list[list[PersonPose]]:
    """Poses of every person box of every frame.

    Args:
      frames: a video file, a folder of frame images (`video_frames.open_frames`), or a
        sequence of [H, W, 3] uint8 RGB arrays of one size.
      boxes: per frame, the person boxes: objects with .box (x, y, width, height) and
        optionally .score and .track_id (`famipose_jax.inference.PersonBox`), or
        [x, y, width, height] / [x, y, width, height, score] sequences.
      show_progress: draw a progress bar (None: when stderr is a terminal).

    Returns:
      per frame, one PersonPose per box, in the order of `boxes`.

    Raises:
      ValueError: naming the frame and box, for boxes that do not match the frames.
    """
    if isinstance(frames, (str, os.PathLike)):
      with video_frames.open_frames(os.fspath(frames)) as opened:
        return self.predict(opened, boxes, show_progress=show_progress)
    if not isinstance(frames, video_frames.Frames):
      frames = video_frames.ArrayFrames(frames)
    frames.keep_recent(self.frame_window)
    if len(boxes) != len(frames):
      raise errors.InvalidInputError(
          f'boxes are given for {len(boxes)} frames, the video has {len(frames)}')
    persons = [(t, _person_box(entry, frames.size, f'frame {t} box {i}'))
               for t, frame_boxes in enumerate(boxes) for i, entry in enumerate(frame_boxes)]
    poses: list[list[PersonPose]] = [[] for _ in range(len(frames))]
    bar = progress_lib.ProgressBar(len(frames), 'poses', enabled=show_progress)
    for chunk, (coords, maxvals) in self._run_batches(frames, persons):
      crops = [crop for _, _, crop in chunk]
      keypoints = decoding.image_keypoints(coords, maxvals, {
          'center': np.stack([c.center for c in crops]),
          'scale': np.stack([c.scale for c in crops]),
          'rotation': np.zeros(len(crops)),
          'box_score': np.array([box.score for _, box, _ in chunk])}, self.config)
      for (t, box, _), kp, confidence in zip(chunk, keypoints, maxvals):
        poses[t].append(PersonPose(keypoints=kp, box=np.array(box.box), box_score=box.score,
                                   track_id=box.track_id,
                                   confidence=np.asarray(confidence, np.float64)))
      bar.update(chunk[-1][0] + 1)
    bar.update(len(frames))
    bar.close()
    return poses

  def _run_batches(self, frames, persons) -> Iterator[tuple[list, tuple]]:
    """Yields (the chunk's (frame, box, crop) rows, its crop coords and maxvals).

    The next batch is cropped on the host while the device runs the previous one (JAX
    dispatches asynchronously); the buffers alternate so a running batch is never overwritten.
    """
    buffers = [self._empty_batch(), self._empty_batch()]
    pending = None
    for n, start in enumerate(range(0, len(persons), self.batch_size)):
      batch = buffers[n % 2]
      chunk = []
      for row, (t, box) in enumerate(persons[start:start + self.batch_size]):
        crop = self.cropper.crop(box.box)
        self.cropper.write_inputs(*_row_slots(batch, row, frames, t, crop))
        chunk.append((t, box, crop))
      running = (chunk, self._predict(self._variables, batch))
      if pending is not None:
        yield _fetched(pending)
      pending = running
    if pending is not None:
      yield _fetched(pending)


def _row_slots(batch: dict[str, np.ndarray], row: int, frames, t: int, crop):
  """ClipCropper.write_inputs' arguments for one row of `batch` (absent inputs: None)."""
  slot = lambda name: batch[name][row] if name in batch else None
  return (frames, t, crop, slot('key_image'), slot('supporting_images'),
          slot('supporting_frame_offsets'))


def _on_host(result, count: int) -> tuple[np.ndarray, np.ndarray]:
  """The first `count` rows of a prediction's final (coords, maxvals), as numpy."""
  final = jax.device_get(result)['final']
  return np.asarray(final['coords'])[:count], np.asarray(final['maxvals'])[:count]


def _fetched(pending) -> tuple[list, tuple[np.ndarray, np.ndarray]]:
  chunk, result = pending
  return chunk, _on_host(result, len(chunk))
