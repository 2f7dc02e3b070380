"""Clip throughput of the data pipeline: 5-frame 384x288 training clips from 1280x720 JPEGs.

  python bench/data_pipeline.py                       # writes frames to a temp folder
  python bench/data_pipeline.py --root /tmp/bench720 --keep   # reuse / keep the frames

Frames are real photographs (scikit-image's sample images, tiled into a panorama the
"camera" pans over, JPEG quality 90), so decoding costs what it costs on real footage. Every
person box is PoseTrack-sized (150-500 px tall). Reported: the per-sample cost split
(decode, warp, colour swap, targets) and clips/s of `ClipDataset.load` on one core, then both
loaders (numpy workers and tf.data) with 1 and 2 workers. Wall-clock rates depend on what else
runs (`uptime`); clips per CPU-second (CPU time of every process and thread of the loader,
parent included) is the per-core figure that survives a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import posetrack17  # pylint: disable=g-import-not-at-top,wrong-import-position
import data_pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from data_pipeline import clip_transform  # pylint: disable=wrong-import-position
from data_pipeline import frame_source  # pylint: disable=wrong-import-position
from data_pipeline import joints as joint_layout  # pylint: disable=wrong-import-position

WIDTH, HEIGHT = 1280, 720
_TEMPLATE = np.array([
    (0.5, 0.12), (0.5, 0.2), (0.5, 0.02), (0.0, 0.0), (0.0, 0.0),
    (0.7, 0.25), (0.3, 0.25), (0.8, 0.4), (0.2, 0.4), (0.85, 0.55), (0.15, 0.55),
    (0.62, 0.55), (0.38, 0.55), (0.64, 0.75), (0.36, 0.75), (0.65, 0.95), (0.35, 0.95)])


def panorama(seed: int) -> np.ndarray:
  """A 2 x 3 mosaic of real photographs, 2400 x 1350, BGR."""
  from skimage import data  # pylint: disable=g-import-not-at-top
  photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
            data.immunohistochemistry(), data.stereo_motorcycle()[0]]
  order = np.random.default_rng(seed).permutation(len(photos))
  tiles = [cv2.resize(photos[i][..., :3], (800, 675), interpolation=cv2.INTER_CUBIC)
           for i in order]
  mosaic = np.concatenate([np.concatenate(tiles[:3], 1), np.concatenate(tiles[3:], 1)], 0)
  return cv2.cvtColor(mosaic, cv2.COLOR_RGB2BGR)


def write_frames(root: str, videos: int, frames: int, persons: int, seed: int = 0):
  """PoseTrack18-named 1280x720 frames and a single-file training JSON under `root`."""
  rng = np.random.default_rng(seed)
  coco = {'images': [], 'annotations': [], 'categories': [{'id': 1, 'name': 'person'}]}
  for v in range(videos):
    pano = panorama(seed + v)
    folder = os.path.join('images', 'train', f'{v:06d}_bench')
    os.makedirs(os.path.join(root, folder), exist_ok=True)
    boxes = [(rng.uniform(0, WIDTH - 300), rng.uniform(0, HEIGHT - 500), rng.uniform(150, 500))
             for _ in range(persons)]
    for f in range(frames):
      x0, y0 = int(10 * f), int(5 * f)
      frame = pano[y0:y0 + HEIGHT, x0:x0 + WIDTH]
      name = os.path.join(folder, f'{f:06d}.jpg')
      cv2.imwrite(os.path.join(root, name), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
      image_id = len(coco['images']) + 1
      coco['images'].append({'id': image_id, 'file_name': name, 'nframes': frames,
                             'frame_id': image_id, 'width': WIDTH, 'height': HEIGHT})
      for bx, by, bh in boxes:
        bw = bh * 0.45
        kp = np.zeros((17, 3))
        kp[:, 0] = bx + _TEMPLATE[:, 0] * bw + f
        kp[:, 1] = by + _TEMPLATE[:, 1] * bh
        kp[:, 2] = 1
        kp[list(joint_layout.UNANNOTATED_JOINTS)] = 0
        coco['annotations'].append({
            'id': len(coco['annotations']) + 1, 'image_id': image_id, 'category_id': 1,
            'bbox': [bx + f, by, bw, bh], 'area': bw * bh, 'iscrowd': 0,
            'keypoints': kp.reshape(-1).round(2).tolist()})
  os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
  with open(os.path.join(root, 'annotations', 'posetrack_train.json'), 'w') as f:
    json.dump(coco, f)


def profile_parts(dataset, indices) -> dict[str, float]:
  """Milliseconds per clip of each stage, timed separately on one core."""
  settings = dataset.settings
  parts = {'read+decode': 0.0, 'warp': 0.0, 'colour swap': 0.0, 'targets': 0.0}
  for index in indices:
    s = dataset.samples[index]
    aug = dataset.augmentation(index, train=True, seed=0, epoch=0)
    matrix = clip_transform.crop_matrix(aug, s.image_size[0], settings.image_size,
                                        settings.pixel_std, settings.crop_convention)
    reduction = dataset.decode_reduction(aug)
    numbers = sorted(set(dataset.clip_frame_numbers(index)))
    t0 = time.perf_counter()
    decoded = []
    for n in numbers:   # copied: region decoding reuses one frame-sized buffer
      pixels, frame_matrix = dataset.decoded_frame(s.frame.path_of(n), matrix, reduction,
                                                   s.image_size)
      decoded.append((pixels.copy(), frame_matrix))
    t1 = time.perf_counter()
    crops = [clip_transform.warp_frame(f, m, settings.image_size) for f, m in decoded]
    t2 = time.perf_counter()
    for crop in crops:
      clip_transform.bgr_to_rgb(crop)
    t3 = time.perf_counter()
    joints = clip_transform.crop_joints(s.joints, aug, s.image_size[0], settings.image_size,
                                        settings.pixel_std, settings.crop_convention,
                                        settings.flip_pairs)
    for codec in dataset.codecs:
      codec.encode(joints)
    t4 = time.perf_counter()
    for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
      parts[key] += dt
  return {k: 1000 * v / len(indices) for k, v in parts.items()}


def published_style_clip(dataset, index):
  """The clip as the published code builds it, for a before/after comparison.

  Every clip frame decoded (boundary duplicates too), the whole frame converted to RGB,
  warped, then ToTensor + Normalize arithmetic in float32; targets as ours.
  """
  s = dataset.samples[index]
  settings = dataset.settings
  aug = dataset.augmentation(index, train=True, seed=0, epoch=0)
  matrix = clip_transform.crop_matrix(aug, s.image_size[0], settings.image_size,
                                      settings.pixel_std, settings.crop_convention)
  mean = np.asarray(settings.mean, np.float32)
  std = np.asarray(settings.std, np.float32)
  crops = []
  for number in dataset.clip_frame_numbers(index):
    frame = cv2.cvtColor(dataset.source.read(s.frame.path_of(number)), cv2.COLOR_BGR2RGB)
    crop = clip_transform.warp_frame(frame, matrix, settings.image_size)
    crops.append((crop.astype(np.float32) / 255.0 - mean) / std)
  joints = clip_transform.crop_joints(s.joints, aug, s.image_size[0], settings.image_size,
                                      settings.pixel_std, settings.crop_convention,
                                      settings.flip_pairs)
  for codec in dataset.codecs:
    codec.encode(joints)
  return crops


def interleaved(clip_fns, indices, rounds: int = 3) -> list[float]:
  """CPU ms per clip of each `clip_fn(index)`, interleaved round by round so that all see the
  same machine load; the best round of each."""
  best = [float('inf')] * len(clip_fns)
  for _ in range(rounds):
    for i, clip_fn in enumerate(clip_fns):
      start = time.process_time()
      for index in indices:
        clip_fn(index)
      best[i] = min(best[i], (time.process_time() - start) / len(indices))
  return [1000 * b for b in best]


def loading(dataset):
  element = dataset.empty_element()
  return lambda index: dataset.load(index, train=True, seed=0, epoch=0, out=element)


def cpu_seconds(pids=()) -> float:
  """CPU time (user + system) of this process's threads and of the processes `pids`."""
  import psutil  # pylint: disable=g-import-not-at-top
  total = 0.0
  for pid in (os.getpid(),) + tuple(pids):
    times = psutil.Process(pid).cpu_times()
    total += times.user + times.system
  return total


def time_load(dataset, indices) -> tuple[float, float]:
  """(clips per wall second, clips per CPU second) of ClipDataset.load in this process."""
  element = dataset.empty_element()
  wall, cpu = time.perf_counter(), time.process_time()
  for index in indices:
    dataset.load(index, train=True, seed=0, epoch=0, out=element)
  return (len(indices) / (time.perf_counter() - wall),
          len(indices) / (time.process_time() - cpu))


def time_loader(config, dataset, loader, workers, batch_size, steps) -> tuple[float, float]:
  """(clips per wall second, clips per CPU second of all its processes), start-up excluded."""
  with data_pipeline.make_loader(config, dataset, batch_size=batch_size, train=True, seed=0,
                                 loader=loader, num_workers=workers) as batches:
    next(batches)
    pids = tuple(w.pid for w in getattr(batches, 'workers', ()))
    wall, cpu = time.perf_counter(), cpu_seconds(pids)
    for _ in range(steps):
      next(batches)
    clips = steps * batch_size
    return clips / (time.perf_counter() - wall), clips / (cpu_seconds(pids) - cpu)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--root', default='', help='frames folder (created if missing)')
  parser.add_argument('--keep', action='store_true', help='keep a temporary --root')
  parser.add_argument('--clips', type=int, default=150, help='clips for the one-core timings')
  parser.add_argument('--steps', type=int, default=12, help='batches per loader timing')
  parser.add_argument('--batch-size', type=int, default=16)
  parser.add_argument('--decode-reduction', default='off', choices=('off', 'auto'))
  parser.add_argument('--region-decode', default='on', choices=('on', 'off'))
  parser.add_argument('--loaders', default='numpy,tfdata')
  args = parser.parse_args()
  cv2.setNumThreads(1)

  root = args.root or tempfile.mkdtemp(prefix='bench720_')
  if not os.path.isfile(os.path.join(root, 'annotations', 'posetrack_train.json')):
    print(f'writing 1280x720 frames to {root} ...', flush=True)
    write_frames(root, videos=6, frames=40, persons=3)
  config = posetrack17.get_config().data
  config.root = root
  config.decode_reduction = args.decode_reduction
  config.region_decode = args.region_decode == 'on'
  dataset = data_pipeline.build_dataset(config, 'train')
  indices = np.random.default_rng(0).permutation(len(dataset))[:args.clips].tolist()
  jpeg_kb = np.mean([os.path.getsize(dataset.source.path(dataset.samples[i].file_name))
                     for i in indices[:20]]) / 1024
  print(f'{len(dataset)} samples, 1280x720 JPEG ~{jpeg_kb:.0f} KiB, 5-frame clips '
        f'{tuple(config.image_size)} (W, H), decode_reduction={args.decode_reduction}, '
        f'region_decode={args.region_decode} (decoder built: '
        f'{frame_source.region_decoding_available()}), cpus={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}')
  time_load(dataset, indices[:10])     # warm the page cache
  parts = profile_parts(dataset, indices)
  total = sum(parts.values())
  print('per clip (ms): ' + ', '.join(f'{k} {v:.2f}' for k, v in parts.items())
        + f', sum {total:.2f}')
  published = lambda index: published_style_clip(dataset, index)
  whole = data_pipeline.ClipDataset(dataset.samples, dataclasses.replace(
      dataset.settings, region_decode=False), dataset.source, 'train')
  before, after_whole, after = interleaved([published, loading(whole), loading(dataset)],
                                           indices[:50])
  print(f'before/after (CPU ms per clip, best of 3): published-style {before:.1f}, '
        f'ClipDataset.load whole-frame decode {after_whole:.1f} ({before / after_whole:.2f}x), '
        f'with region_decode={dataset.settings.region_decode} {after:.1f} '
        f'({before / after:.2f}x)')
  wall, cpu = time_load(dataset, indices)
  print(f'ClipDataset.load in-process: {wall:.1f} clips/s wall, {cpu:.1f} clips per CPU-second')
  for loader in args.loaders.split(','):
    for workers in (1, 2):
      wall, cpu = time_loader(config, dataset, loader, workers, args.batch_size, args.steps)
      print(f'loader={loader} workers={workers}: {wall:.1f} clips/s wall '
            f'({wall / workers:.1f} per worker), {cpu:.1f} clips per CPU-second '
            f'(load average {os.getloadavg()[0]:.2f})', flush=True)
  if not args.root and not args.keep:
    shutil.rmtree(root)


if __name__ == '__main__':
  main()
