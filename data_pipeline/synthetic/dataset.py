"""`generate`: render every video, label it, write the folder atomically.

The whole dataset is written into a hidden sibling folder (`.<name>.partial-<pid>`) and renamed
into place when complete, so an interrupted run never leaves something that looks like a
dataset. An existing folder is reused when it is a synthetic dataset of the same settings,
replaced only when it is a synthetic dataset and `overwrite` is set, and otherwise left alone
with an error.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import shutil
import time

import cv2
import numpy as np

from data_pipeline.errors import UserError
from data_pipeline.synthetic import detector, labels, scenes, writer
from data_pipeline.synthetic.settings import SPLITS, Settings, video_name


class DatasetExistsError(UserError, FileExistsError):
  """The output folder holds something this generator will not overwrite."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A generated dataset: where it is and what is in it."""
  root: str
  settings: Settings
  stats: dict

  def path(self, key: str) -> str:
    """Absolute path of 'images', 'annotations', 'train_json', 'val_json' or 'val_boxes'."""
    return os.path.join(self.root, writer.PATHS[key])

  def annotations_dir(self, split: str) -> str:
    return os.path.join(self.root, writer.PATHS['annotations'], split)


@dataclasses.dataclass(frozen=True)
class _VideoResult:
  split: str
  index: int
  frames: list             # labels.FrameLabel per frame
  blur: np.ndarray         # [T] heavy/mild blur length, pixels
  degraded: np.ndarray     # [T] scenes.VideoPlan.degraded
  detections: list         # detection JSON records (val only)
  detection_counts: dict


def _make_video(settings: Settings, split: str, index: int, root: str) -> _VideoResult:
  """Render, encode and label one video; writes its frames and its per-video JSON."""
  plan = scenes.plan_video(settings, split, index)
  folder = os.path.join(root, 'images', split, video_name(split, index))
  os.makedirs(folder, exist_ok=True)
  states, crowd = [], []
  params = [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]
  for t in range(plan.num_frames):
    image, _, frame_states = scenes.render_frame(plan, t)
    ok, data = cv2.imencode('.jpg', image, params)
    if not ok:
      raise RuntimeError(f'JPEG encoding failed for {folder} frame {t}')
    with open(os.path.join(folder, f'{t:06d}.jpg'), 'wb') as f:
      f.write(data.tobytes())
    states.append(frame_states)
    crowd.append(scenes.crowd_regions_in_frame(plan, t))
  frames = labels.label_video(states, crowd, settings)
  writer.write_video_file(root, settings, split, index, frames)

  records, counts = [], {'true': 0, 'missed': 0, 'false': 0}
  if split == 'val':
    rng = scenes.detection_rng(settings, split, index)
    per_frame = []
    for frame in frames:
      boxes, c = detector.detect_frame(rng, frame.visible_persons, settings.width,
                                       settings.height, settings.det_miss_rate,
                                       settings.det_false_positives)
      per_frame.append(boxes)
      counts = {k: counts[k] + c[k] for k in counts}
    records = writer.detection_records(split, index, per_frame)
  return _VideoResult(split, index, frames, plan.blur[:, 0].copy(), plan.degraded.copy(),
                      records, counts)


def _worker_init():
  cv2.setNumThreads(1)     # the processes are the parallelism


def _render_all(settings: Settings, root: str, workers: int, log) -> list:
  jobs = [(split, i) for split in SPLITS
          for i in range(settings.train_videos if split == 'train' else settings.val_videos)]
  every = max(1, len(jobs) // 10)

  def progress(n):
    if (n + 1) % every == 0 or n + 1 == len(jobs):
      log(f'  {n + 1}/{len(jobs)} videos ({video_name(*jobs[n])})')

  if workers <= 1 or len(jobs) <= 1:
    results = []
    for n, (split, i) in enumerate(jobs):
      results.append(_make_video(settings, split, i, root))
      progress(n)
    return results
  # spawn, not fork: the caller may already run JAX threads.
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                              initializer=_worker_init) as pool:
    futures = [pool.submit(_make_video, settings, split, i, root) for split, i in jobs]
    results = []
    for n, future in enumerate(futures):
      results.append(future.result())
      progress(n)
  return results


def _summarise(settings: Settings, results: list) -> dict:
  stats = {}
  for split in SPLITS:
    mine = [r for r in results if r.split == split]
    total = {'videos': len(mine)}
    for r in mine:
      for key, value in writer.stats_of(r.frames).items():
        total[key] = total.get(key, 0) + value
    total['heavy_blur_frames'] = int(sum(
        int(np.sum(r.blur >= 12 * settings.unit)) for r in mine))
    if settings.degraded_frame_share > 0:
      total['degraded'] = _degraded_stats(mine)
    if split == 'val':
      boxes = [d for r in mine for d in r.detections]
      total['detections'] = len(boxes)
      total['detections_below_0.2'] = sum(d['score'] < 0.2 for d in boxes)
      for key in ('true', 'missed', 'false'):
        total[f'detections_{key}'] = sum(r.detection_counts[key] for r in mine)
    stats[split] = total
  return stats


def _degraded_stats(results: list) -> dict:
  """How many frames each degradation hit, and how hidden the labelled joints are there."""
  counts = {kind: 0 for kind in scenes.DEGRADATIONS}
  frames = {'degraded': [], 'clean': []}
  for r in results:
    for frame, code in zip(r.frames, r.degraded):
      if code:
        counts[scenes.DEGRADATIONS[code - 1]] += 1
      frames['degraded' if code else 'clean'].append(frame)
  tally = {subset: writer.stats_of(f) for subset, f in frames.items()}

  def percent(part, whole):
    return round(100.0 * part / whole, 1) if whole else 0.0

  labelled = tally['degraded']['labeled_frames']
  return {'frames': counts,
          'labeled_frames': labelled,
          'labeled_frames_percent': percent(labelled,
                                            labelled + tally['clean']['labeled_frames']),
          'hidden_joints_percent': {
              subset: percent(t['occluded_labeled_joints'], t['labeled_joints'])
              for subset, t in tally.items()}}


def degraded_frames(results: list, split: str) -> dict:
  """{video name: {frame index: degradation}} of one split's degraded frames."""
  return {video_name(r.split, r.index): {int(t): scenes.DEGRADATIONS[code - 1]
                                         for t, code in enumerate(r.degraded) if code}
          for r in results if r.split == split}


def read_manifest(root: str) -> dict | None:
  """The manifest of a synthetic dataset folder, or None if `root` is not one."""
  path = os.path.join(root, writer.MANIFEST)
  try:
    with open(path) as f:
      manifest = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(manifest, dict) or manifest.get('generator') != writer.GENERATOR:
    return None
  return manifest


def _check_target(root: str, settings: Settings, overwrite: bool) -> str:
  """'new', 'empty', 'same' or 'replace'; raises DatasetExistsError for anything else."""
  if not os.path.lexists(root):
    return 'new'
  if not os.path.isdir(root) or os.path.islink(root):
    raise DatasetExistsError(f'{root} exists and is not a folder; choose another --out')
  if not os.listdir(root):
    return 'empty'
  manifest = read_manifest(root)
  if manifest is None:
    raise DatasetExistsError(
        f'{root} exists and is not a synthetic dataset (no {writer.MANIFEST} from this '
        'generator); refusing to write into it. Choose another --out or remove it yourself.')
  # A setting added later defaults to what older versions generated: fill it in.
  recorded = {**Settings().to_dict(), **(manifest.get('settings') or {})}
  if recorded == settings.to_dict() and \
      manifest.get('format_version') == writer.FORMAT_VERSION:
    return 'same'
  if overwrite:
    return 'replace'
  old = recorded
  diff = {k: (old.get(k), v) for k, v in settings.to_dict().items() if old.get(k) != v}
  raise DatasetExistsError(
      f'{root} is a synthetic dataset made with other settings {{setting: (existing, asked)}}: '
      f'{diff}. Pass overwrite=True (--overwrite) to replace it, or choose another --out.')


def _print_summary(root: str, stats: dict, seconds: float | None, log):
  for split in SPLITS:
    s = stats[split]
    if not s['videos']:
      continue
    joints = max(s['labeled_joints'], 1)
    log(f'  {split}: {s["videos"]} videos, {s["frames"]} frames ({s["labeled_frames"]} '
        f'labelled), {s["persons"]} persons, {s["labeled_joints"]} labelled joints '
        f'({100.0 * s["occluded_labeled_joints"] / joints:.1f}% hidden in their frame), '
        f'{s["heavy_blur_frames"]} heavily blurred frames, {s["ignore_regions"]} ignore regions')
    if 'degraded' in s:
      d = s['degraded']
      log(f'  {split} degraded frames: {d["frames"]} ({d["labeled_frames_percent"]}% of the '
          f'labelled frames); labelled joints hidden: {d["hidden_joints_percent"]["degraded"]}% '
          f'on degraded frames, {d["hidden_joints_percent"]["clean"]}% on the others')
    if split == 'val':
      log(f'  val boxes: {s["detections"]} ({s["detections_true"]} true, '
          f'{s["detections_missed"]} persons missed, {s["detections_false"]} false, '
          f'{s["detections_below_0.2"]} scoring below 0.2)')
  if seconds is not None:
    log(f'  written to {root} in {seconds:.1f} s')


def generate(out_dir: str, *, workers: int | None = None, overwrite: bool = False,
             verbose: bool = True, **settings) -> Dataset:
  """Generate (or reuse) a synthetic PoseTrack-like dataset in `out_dir`.

  Args:
    out_dir: the dataset root to create.
    workers: processes rendering videos in parallel (default: min(2, CPUs)); the output does
      not depend on it.
    overwrite: replace `out_dir` if it is a synthetic dataset with other settings (never
      anything else).
    verbose: print progress and a summary.
    **settings: fields of `Settings` (seed, train_videos, val_videos, frames, width, ...).

  Returns:
    The Dataset.

  Raises:
    DatasetExistsError: `out_dir` exists and is not a synthetic dataset of these settings
      (and not replaceable by `overwrite`).
    ValueError: an unknown or invalid setting.
  """
  config = Settings.from_dict(settings)
  root = os.path.abspath(out_dir)
  log = print if verbose else (lambda *_: None)
  state = _check_target(root, config, overwrite)
  if state == 'same':
    manifest = read_manifest(root)
    log(f'{root}: synthetic dataset with these settings already present, reused')
    _print_summary(root, manifest['stats'], None, log)
    return Dataset(root, config, manifest['stats'])

  workers = min(2, os.cpu_count() or 1) if workers is None else int(workers)
  parent, name = os.path.split(root)
  os.makedirs(parent, exist_ok=True)
  partial = os.path.join(parent, f'.{name}.partial-{os.getpid()}')
  if os.path.exists(partial):
    shutil.rmtree(partial)     # left by an earlier crashed run of this same process id
  os.makedirs(partial)
  start = time.time()
  try:
    log(f'generating synthetic PoseTrack ({config.train_videos} train + {config.val_videos} '
        f'val videos x {config.frames} frames at {config.width}x{config.height}, '
        f'{workers} worker(s))')
    results = _render_all(config, partial, workers, log)
    videos = {split: [video_name(r.split, r.index) for r in results if r.split == split]
              for split in SPLITS}
    for split in SPLITS:
      mine = [(r.index, r.frames, r.blur) for r in results if r.split == split]
      writer.write_json(writer.coco_document(config, split, mine),
                        os.path.join(partial, writer.PATHS[f'{split}_json']))
    writer.write_json([d for r in results for d in r.detections],
                      os.path.join(partial, writer.PATHS['val_boxes']))
    stats = _summarise(config, results)
    degraded = ({split: degraded_frames(results, split) for split in SPLITS}
                if config.degraded_frame_share > 0 else None)
    writer.write_json(writer.manifest_document(config, videos, stats, degraded),
                      os.path.join(partial, writer.MANIFEST))
    if state == 'empty':
      os.rmdir(root)
    elif state == 'replace':
      old = os.path.join(parent, f'.{name}.old-{os.getpid()}')
      os.rename(root, old)
      os.rename(partial, root)
      shutil.rmtree(old)
    if state != 'replace':
      os.rename(partial, root)
  except BaseException:
    shutil.rmtree(partial, ignore_errors=True)
    raise
  _print_summary(root, stats, time.time() - start, log)
  return Dataset(root, config, stats)
