"""Evaluation: predict every val box, write one PoseTrack JSON per video, score, print the table.

The device runs the model (optionally twice for the flip test) and decodes to crop
coordinates; only [B, K, 2] coordinates and [B, K] maxima come back, gathered on every process
(so multi-host runs write the files once, from process 0). The host maps them into the image,
groups them by video (every frame present) and runs the built-in PoseTrack evaluator on the
written files, for the backbone's own heatmaps and for the family's final prediction, and
draws a few val frames with the predicted and true skeletons.

With ground-truth boxes (`data.eval_boxes = 'ground_truth'`) every prediction keeps its box's
ground-truth track id, and the table adds poseval's tracking metrics (MOTA per joint group,
total MOTA, MOTP, precision, recall): pose quality with the true tracks, not a tracker's
score. Detection boxes carry no track id; their files and table are the published ones.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import os
import time
from typing import Any, Mapping

import cv2
import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

import data_pipeline
from data_pipeline.bad_input import BadInputError
from famipose_jax import errors
from famipose_jax.runtime import compiler_options
from famipose_jax.heads import decoding
from famipose_jax import evaluation
from famipose_jax.runtime import multihost
from famipose_jax.runtime import progress
from famipose_jax.runtime import sharding
from famipose_jax.evaluation import visualize
from famipose_jax.checkpoints import workdir_errors
from famipose_jax.evaluation import prediction_writer

_log = logging.getLogger(__name__)

# Per-box metadata that travels through the device so every process sees the whole batch.
META_KEYS = ('center', 'scale', 'rotation', 'box_score', 'sample_index', 'valid')
PREDICTIONS_DIR = 'predictions'


def make_eval_step(experiment, mesh: Mesh):
  """Jitted (variables, batch) -> {'final'|'backbone': {'coords', 'maxvals'}, 'meta': {...}}.

  coords [B, K, 2] are input-crop pixels (experiment.predict_fn), every output replicated
  over the mesh.
  """
  predict = experiment.predict_fn()

  def eval_fn(variables, batch):
    result = predict(variables, batch)
    result['meta'] = {k: batch[k] for k in META_KEYS}
    return result

  replicated = sharding.replicated(mesh)
  return compiler_options.jit(eval_fn, in_shardings=(replicated, sharding.data_sharded(mesh)),
                              out_shardings=replicated)


def _device_batch(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  out = dict(batch)
  out['sample_index'] = np.asarray(batch['sample_index'], np.int32)   # no int64 without x64
  return out


def _track_id(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> int | None:
  """A ground-truth box's track id (the samples' -1 means none); detections have none."""
  if config.data.eval_boxes != 'ground_truth' or info['track_id'] < 0:
    return None
  return int(info['track_id'])


def predict(experiment, variables, dataset, mesh: Mesh, *,
            show_progress: bool = True) -> dict[str, list]:
  """Predicted persons for every valid val box: {'final': [PosePrediction], 'backbone': [...]}."""
  config = experiment.config
  sharding.check_batch_size(config.eval_batch_size, mesh, 'eval_batch_size')
  step_fn = make_eval_step(experiment, mesh)
  predictions: dict[str, list] = {}
  keys = experiment.input_keys + META_KEYS
  with data_pipeline.make_loader(
      config.data, dataset, batch_size=sharding.local_batch_size(config.eval_batch_size),
      train=False, seed=config.seed, process_index=jax.process_index(),
      process_count=jax.process_count()) as batches:
    bar = progress.ProgressBar(batches.steps_per_epoch, 'eval',
                               enabled=None if show_progress else False)
    for i, batch in enumerate(batches):
      placed = sharding.put_batch(_device_batch(batch), mesh, keys)
      if i == 0:
        step_fn = multihost.compile_everywhere(step_fn, variables, placed, name='eval step')
      out = jax.device_get(step_fn(variables, placed))
      valid = np.asarray(out['meta']['valid'], bool)
      rows = {k: np.asarray(v)[valid] for k, v in out['meta'].items()}
      for name in (n for n in out if n != 'meta'):
        predictions.setdefault(name, [])
        keypoints = decoding.image_keypoints(out[name]['coords'][valid],
                                             out[name]['maxvals'][valid], rows, config)
        for index, kp in zip(rows['sample_index'], keypoints):
          info = dataset.metadata(int(index))
          predictions[name].append(evaluation.PosePrediction(
              file_name=info['file_name'], keypoints=kp, box_score=float(info['box_score']),
              bbox=np.asarray(info['box'], np.float64), track_id=_track_id(config, info)))
      bar.update(i + 1)
    bar.close()
  return predictions


def ground_truth_dir(config: ml_collections.ConfigDict) -> str:
  root = config.data.root
  folder = config.data.video_annotation_dir
  folder = folder if os.path.isabs(folder) else os.path.join(root, folder)
  return os.path.join(folder, 'val')


@dataclasses.dataclass(frozen=True)
class ValInputs:
  """What an evaluation reads besides the model, checked and read once before training.

  Attributes:
    dataset: the val ClipDataset.
    ground_truth: the val ground-truth files, read (every evaluation scores against them).
  """
  dataset: Any
  ground_truth: evaluation.GroundTruth


def read_val_ground_truth(config: ml_collections.ConfigDict) -> evaluation.GroundTruth:
  """The val ground truth of the config's dataset.

  Raises, naming the file: a missing folder or no file in it, a malformed file (through the
  PoseTrack reader's checks), or not a single annotated person.
  """
  gt_dir = ground_truth_dir(config)
  if not glob.glob(os.path.join(gt_dir, '*.json')):
    raise errors.MissingInputError(
        f'no per-video ground-truth files (*.json) in {gt_dir} '
        '(config.data.root / data.video_annotation_dir / val)')
  try:
    ground_truth = evaluation.read_ground_truth(gt_dir)
  except ValueError as e:   # the reader names the file and field; a user's input, not a bug
    raise BadInputError(str(e)) from e
  if not any(frame.persons for video in ground_truth.videos for frame in video.frames):
    raise BadInputError(f'{gt_dir}: {len(ground_truth.paths)} ground-truth file(s) and not one '
                        'annotated person: nothing to evaluate against')
  return ground_truth


def prepare_evaluation(experiment) -> ValInputs:
  """The val clips and ground truth, after checking everything evaluation will read (before
  training).

  Raises, naming the file: a missing val frame or box file, malformed boxes or ground truth
  (through the data pipeline's and the PoseTrack reader's checks), or ground truth without a
  single annotated person.
  """
  return ValInputs(experiment.dataset('val'), read_val_ground_truth(experiment.config))


def score_predictions(config: ml_collections.ConfigDict, predictions: Mapping[str, list],
                      out_dir: str, ground_truth: evaluation.GroundTruth | None = None):
  """Writes `out_dir/<name>/<video>.json` for each prediction set and scores each folder.

  Args:
    config: the experiment's config (data paths, eval settings).
    predictions: {name: [PosePrediction]}.
    out_dir: the folder to write to.
    ground_truth: the val ground truth already read; None reads it.

  Returns:
    ({name: PoseTrackResult}, {name: PoseTrackingResult} for the sets whose predictions all
    carry a track id, the ground-truth videos, {name: the prediction videos}).
  """
  if ground_truth is None:
    ground_truth = read_val_ground_truth(config)
  gt_videos = list(ground_truth.videos)
  settings = dict(pckh_threshold=config.eval.pckh_threshold,
                  head_size_factor=config.eval.head_size_factor)
  results, tracking, written = {}, {}, {}
  for name, persons in predictions.items():
    videos = evaluation.assemble_predictions(
        gt_videos, persons, missing_frame_score=config.eval.missing_frame_score)
    folder = os.path.join(out_dir, name)
    with workdir_errors.writing(folder):
      evaluation.write_prediction_folder(videos, folder, layout=config.eval.prediction_layout)
    # Scored from the files as written, as an outside evaluator would read them.
    gt_read, pred_read = evaluation.read_folder_pair(ground_truth, folder)
    results[name] = evaluation.evaluate_videos(gt_read, pred_read, **settings)
    if prediction_writer.have_track_ids(persons):
      try:
        tracking[name] = evaluation.evaluate_tracking(gt_read, pred_read, **settings)
      except ValueError as e:   # e.g. a repeated GT track id: keep the mAP, say why
        _log.warning('no tracking metrics for %s: %s', name, e)
    written[name] = videos
  return results, tracking, gt_videos, written


def results_table(results: Mapping[str, Any], tracking: Mapping[str, Any],
                  labels: Mapping[str, str]) -> str:
  """The mAP table with one row per prediction set, then the tracking table if there is one.

  Args:
    results, tracking: by prediction name ('backbone', 'final').
    labels: prediction name -> row label (Experiment.prediction_labels), in row order.
  """
  labels = {name: label for name, label in labels.items() if name in results}
  table = evaluation.format_table({labels[name]: results[name] for name in labels})
  if tracking:
    table += ('\n\nTracking with the ground-truth track ids (poseval: MOTA per joint group, '
              'then the totals):\n' + evaluation.format_table(
                  {labels[name]: tracking[name] for name in labels if name in tracking}))
  return table


def metric_values(results: Mapping[str, Any], tracking: Mapping[str, Any]) -> dict[str, float]:
  """The values for the metrics writer, by name.

  '<name>/<mAP column>' and '<name>/mAP'; with track ids also '<name>/tracking/<column>'
  (the MOTA of Head ... Ankle, then MOTA, MOTP, Precision, Recall).
  """
  values = {}
  for name, result in results.items():
    values.update({f'{name}/{col}': v for col, v in result.columns.items()})
    values[f'{name}/mAP'] = result.mean
  for name, result in tracking.items():
    values.update({f'{name}/tracking/{col}': v for col, v in result.columns.items()})
  return values


def draw_frames(config: ml_collections.ConfigDict, gt_videos, pred_videos,
                count: int) -> np.ndarray | None:
  """Up to `count` annotated val frames, spread over the videos, with both skeletons drawn."""
  labelled = [(v, f) for v, video in enumerate(gt_videos)
              for f, frame in enumerate(video.frames) if frame.persons]
  if not labelled or count < 1:
    return None
  picks = [labelled[i] for i in np.linspace(0, len(labelled) - 1, min(count, len(labelled)),
                                            dtype=int)]
  frames, predicted, truth = [], [], []
  for v, f in picks:
    gt_frame = gt_videos[v].frames[f]
    image = cv2.imread(os.path.join(config.data.root, gt_frame.file_name))
    if image is None or (frames and image.shape != frames[0].shape):
      continue
    frames.append(image)
    predicted.append([p.keypoints for p in pred_videos[v].frames[f].persons
                      if p.present.sum() > 1])                 # not the dummy point
    truth.append([np.where(p.present[:, None], p.keypoints, 0) for p in gt_frame.persons])
  if not frames:
    return None
  return visualize.frame_panel(frames, predicted, truth)


def evaluate_model(experiment, variables, mesh: Mesh, workdir: str, step: int, writer=None, *,
                   inputs: ValInputs | None = None,
                   show_progress: bool = True) -> dict[str, Any]:
  """Predict, write, score and draw.

  `inputs` (prepare_evaluation) are read here when None.

  Returns:
    {'results': {name: PoseTrackResult}, 'tracking': {name: PoseTrackingResult} (with
    ground-truth track ids, else empty), 'table', 'prediction_dir', 'image', 'seconds'};
    process 0 scores, other processes return empty results. Logs the table columns to
    `writer` (a MetricsWriter), with the image.
  """
  start = time.time()
  config = experiment.config
  if inputs is None:
    inputs = prepare_evaluation(experiment)
  predictions = predict(experiment, variables, inputs.dataset, mesh,
                        show_progress=show_progress)
  out_dir = os.path.join(workdir, PREDICTIONS_DIR, f'step_{step}')
  if jax.process_index() != 0:   # process 0 writes and scores the files
    # The others wait for it: one that ended now would wait for process 0 in JAX's shutdown,
    # which gives up (and stops every process) after a few minutes.
    multihost.barrier(f'evaluated step {step}')
    return {'results': {}, 'tracking': {}, 'table': '', 'prediction_dir': out_dir,
            'image': None, 'seconds': time.time() - start}
  results, tracking, gt_videos, pred_videos = score_predictions(config, predictions, out_dir,
                                                                  inputs.ground_truth)
  table = results_table(results, tracking, experiment.prediction_labels)
  image_path = None
  panel = draw_frames(config, gt_videos, pred_videos['final'], config.train.num_vis_samples)
  if panel is not None:
    image_path = os.path.join(workdir, PREDICTIONS_DIR, f'step_{step}.png')
    with workdir_errors.writing(image_path):
      png = visualize.write_png(image_path, panel)
    if writer is not None:
      writer.image_png(step, 'eval/predictions', png, panel.shape[0], panel.shape[1])
  if writer is not None:
    writer.write(step, metric_values(results, tracking), kind='eval')
  multihost.barrier(f'evaluated step {step}')
  return {'results': results, 'tracking': tracking, 'table': table, 'prediction_dir': out_dir,
          'image': image_path, 'seconds': time.time() - start}
