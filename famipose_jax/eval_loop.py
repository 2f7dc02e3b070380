"""Evaluation: predict every val box, write one PoseTrack JSON per video, score, print the table.

The device runs the model (optionally twice for the flip test) and decodes to crop
coordinates; only [B, K, 2] coordinates and [B, K] maxima come back, gathered on every process
(so multi-host runs write the files once, from process 0). The host maps them into the image,
groups them by video (every frame present) and runs the built-in PoseTrack evaluator on the
written files, for the backbone's own heatmaps and for the final (FAMI-Pose) heatmaps.
"""

from __future__ import annotations

import glob
import logging
import os
import time
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

import data_pipeline
from data_pipeline import posetrack_video as ptv
from famipose_jax import decoding
from famipose_jax import evaluation
from famipose_jax import progress
from famipose_jax import sharding
from famipose_jax import visualize

# Per-box metadata that travels through the device so every process sees the whole batch.
META_KEYS = ('center', 'scale', 'rotation', 'box_score', 'sample_index', 'valid')
PREDICTIONS_DIR = 'predictions'


def row_labels(config: ml_collections.ConfigDict) -> dict[str, str]:
  """Decoder output name -> table row label ('backbone' only in temporal mode)."""
  if config.model.temporal:
    return {'backbone': 'backbone only', 'final': 'FAMI-Pose'}
  return {'final': 'single-frame HRNet'}


def eval_device_keys(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  keys = ('key_image',) + (('supporting_images',) if config.model.temporal else ())
  return keys + META_KEYS


def make_eval_step(model, config: ml_collections.ConfigDict, mesh: Mesh):
  """Jitted (variables, batch) -> {'final'|'backbone': {'coords', 'maxvals'}, 'meta': {...}}.

  coords [B, K, 2] are input-crop pixels, every output replicated over the mesh.
  """
  decode = decoding.make_decoder(config)
  temporal = bool(config.model.temporal)
  flip_pairs = tuple(tuple(p) for p in config.data.flip_pairs)

  def eval_fn(variables, batch):
    key_image = batch['key_image']
    supporting = batch['supporting_images'] if temporal else None
    outputs = model.apply(variables, key_image, supporting, train=False)
    if config.eval.flip_test:
      flipped = model.apply(variables, decoding.flip_images(key_image),
                            decoding.flip_images(supporting) if temporal else None, train=False)
      outputs = decoding.fuse_flipped_outputs(outputs, flipped, flip_pairs,
                                              shift_heatmap=config.eval.flip_shift_heatmap)
    result = {name: {'coords': coords, 'maxvals': maxvals}
              for name, (coords, maxvals) in decode(outputs).items()}
    result['meta'] = {k: batch[k] for k in META_KEYS}
    return result

  replicated = sharding.replicated(mesh)
  return jax.jit(eval_fn, in_shardings=(replicated, sharding.data_sharded(mesh)),
                 out_shardings=replicated)


def _device_batch(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  out = dict(batch)
  out['sample_index'] = np.asarray(batch['sample_index'], np.int32)   # no int64 without x64
  return out


def predict(model, variables, config: ml_collections.ConfigDict, dataset, mesh: Mesh,
            *, show_progress: bool = True) -> tuple[dict[str, list], dict[str, np.ndarray]]:
  """Predicted persons for every valid val box, and one batch of crops to draw.

  Returns:
    ({'final': [PosePrediction], 'backbone': [...]}, {'images', 'coords', 'scores', 'joints'}
    of the first batch, this process's rows).
  """
  sharding.check_batch_size(config.eval_batch_size, mesh, 'eval_batch_size')
  step_fn = make_eval_step(model, config, mesh)
  labels = row_labels(config)
  predictions = {name: [] for name in labels}
  sample = None
  keys = eval_device_keys(config)
  with data_pipeline.make_loader(
      config.data, dataset, batch_size=sharding.local_batch_size(config.eval_batch_size),
      train=False, seed=config.seed, process_index=jax.process_index(),
      process_count=jax.process_count()) as batches:
    bar = progress.ProgressBar(batches.steps_per_epoch, 'eval',
                               enabled=None if show_progress else False)
    for i, batch in enumerate(batches):
      out = jax.device_get(step_fn(variables, sharding.put_batch(_device_batch(batch), mesh,
                                                                  keys)))
      meta = out['meta']
      valid = np.asarray(meta['valid'], bool)
      rows = {k: np.asarray(v)[valid] for k, v in meta.items()}
      for name in labels:
        keypoints = decoding.image_keypoints(out[name]['coords'][valid],
                                             out[name]['maxvals'][valid], rows, config)
        for index, kp in zip(rows['sample_index'], keypoints):
          info = dataset.metadata(int(index))
          predictions[name].append(evaluation.PosePrediction(
              file_name=info['file_name'], keypoints=kp, box_score=float(info['box_score']),
              bbox=np.asarray(info['box'], np.float64)))
      if sample is None:
        local = slice(0, min(len(batch['valid']), config.train.num_vis_samples))
        start = jax.process_index() * len(batch['valid'])
        rows_here = slice(start + local.start, start + local.stop)
        sample = {'images': batch['key_image'][local],
                  'coords': out['final']['coords'][rows_here],
                  'scores': out['final']['maxvals'][rows_here],
                  'valid': batch['valid'][local]}
      bar.update(i + 1)
    bar.close()
  return predictions, sample


def ground_truth_dir(config: ml_collections.ConfigDict) -> str:
  root = config.data.root
  folder = config.data.video_annotation_dir
  folder = folder if os.path.isabs(folder) else os.path.join(root, folder)
  return os.path.join(folder, 'val')


def score_predictions(config: ml_collections.ConfigDict, predictions: Mapping[str, list],
                      out_dir: str) -> dict[str, Any]:
  """Writes `out_dir/<name>/<video>.json` for each prediction set and evaluates each folder.

  Returns:
    {name: PoseTrackResult}.
  """
  gt_dir = ground_truth_dir(config)
  gt_paths = sorted(glob.glob(os.path.join(gt_dir, '*.json')))
  if not gt_paths:
    raise FileNotFoundError(f'no per-video ground-truth files (*.json) in {gt_dir} '
                            '(config.data.root / data.video_annotation_dir / val)')
  gt_videos = [ptv.read_video(p, ptv.GROUND_TRUTH) for p in gt_paths]
  results = {}
  for name, persons in predictions.items():
    videos = evaluation.assemble_predictions(
        gt_videos, persons, missing_frame_score=config.eval.missing_frame_score)
    folder = os.path.join(out_dir, name)
    evaluation.write_prediction_folder(videos, folder, layout=config.eval.prediction_layout)
    results[name] = evaluation.evaluate_folders(
        gt_dir, folder, pckh_threshold=config.eval.pckh_threshold,
        head_size_factor=config.eval.head_size_factor)
  return results


def evaluate_model(model, variables, config: ml_collections.ConfigDict, mesh: Mesh,
                   workdir: str, step: int, writer=None, *, dataset=None,
                   show_progress: bool = True) -> dict[str, Any]:
  """Predict, write, score and draw; returns {'results': {name: PoseTrackResult}, 'table',
  'prediction_dir', 'image', 'seconds'}. Logs mAP columns to `writer` (a MetricsWriter)."""
  start = time.time()
  if dataset is None:
    dataset = data_pipeline.build_dataset(config.data, 'val')
  predictions, sample = predict(model, variables, config, dataset, mesh,
                                show_progress=show_progress)
  out_dir = os.path.join(workdir, PREDICTIONS_DIR, f'step_{step}')
  if jax.process_index() != 0:   # process 0 writes and scores the files
    return {'results': {}, 'table': '', 'prediction_dir': out_dir, 'image': None,
            'seconds': time.time() - start}
  results = score_predictions(config, predictions, out_dir)
  labels = row_labels(config)
  table = evaluation.format_table({labels[name]: results[name] for name in labels})
  image_path = None
  keep = np.asarray(sample['valid'], bool) if sample is not None else np.zeros(0, bool)
  if keep.any():
    grid = visualize.prediction_grid(
        sample['images'][keep], sample['coords'][keep], sample['scores'][keep], None,
        mean=config.data.mean, std=config.data.std)
    image_path = os.path.join(workdir, PREDICTIONS_DIR, f'step_{step}.png')
    png = visualize.write_png(image_path, grid)
    if writer is not None:
      writer.image_png(step, 'eval/predictions', png, grid.shape[0], grid.shape[1])
  if writer is not None:
    values = {}
    for name, result in results.items():
      values.update({f'{name}/{col}': v for col, v in result.columns.items()})
      values[f'{name}/mAP'] = result.mean
    writer.write(step, values, kind='eval')
  return {'results': results, 'table': table, 'prediction_dir': out_dir, 'image': image_path,
          'seconds': time.time() - start}
