"""What detecting every k-th frame costs in recall, on synthetic validation videos.

  python bench/detect_every.py                        # 6 val videos of 36 frames, k = 1..4
  python bench/detect_every.py --videos 2 --every 1 2 --json /tmp/d.json

Generates the synthetic dataset's validation split (`data_pipeline.synthetic`, seed --seed, the
default settings: 480x270, 1-4 annotated people a video), runs the built-in detector on every
frame once (detection workers, `famipose_jax.inference.detection_jobs`), and for each k keeps
the frames `predict --detect-every k` would detect and links them as the predict command does
(its default tracker settings; tracks carried between detected frames). Every frame has ground
truth: a person box counts as found when a box of that frame overlaps it by IoU >= the
threshold (one box per person, best overlap first). Reported per k: recall and precision at
IoU 0.5 and 0.3 over all annotated people, boxes per frame, and the detector's share of frames.

The ground-truth box is PoseTrack's (the keypoints' extent, enlarged), the detector's is head
to feet, so absolute recall understates what the detector finds; the comparison between k is
the point.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
from data_pipeline import synthetic
from famipose_jax.inference import box_tracker
from famipose_jax.inference import detection_jobs
from famipose_jax.inference import video_frames
from famipose_jax.inference.person_boxes import iou_matrix
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

THRESHOLDS = (0.5, 0.3)
TRACKING = dict(min_iou=0.3, max_missed=5, smooth_window=5, min_track_length=1)  # predict's


def ground_truth(root: str) -> dict[str, dict[int, np.ndarray]]:
  """Per video folder, per frame number, the annotated person boxes [N, 4] (x, y, w, h)."""
  with open(os.path.join(root, synthetic.PATHS['val_json']), encoding='utf-8') as f:
    coco = json.load(f)
  frame_of = {}
  for image in coco['images']:
    folder, name = os.path.split(image['file_name'])
    frame_of[image['id']] = (folder, int(os.path.splitext(name)[0]))
  boxes: dict[str, dict[int, list]] = {}
  for image_id, (folder, t) in frame_of.items():
    boxes.setdefault(folder, {}).setdefault(t, [])
  for annotation in coco['annotations']:
    folder, t = frame_of[annotation['image_id']]
    boxes[folder][t].append(annotation['bbox'])
  return {folder: {t: np.asarray(b, np.float64).reshape(-1, 4) for t, b in frames.items()}
          for folder, frames in boxes.items()}


def matched(truth: np.ndarray, found: list, threshold: float) -> int:
  """People in `truth` found by a box of `found` (one box each, best overlap first)."""
  if not len(truth) or not found:
    return 0
  overlap = iou_matrix(truth, [p.box for p in found])
  count = 0
  while overlap.size and overlap.max() >= threshold:
    i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
    overlap[i, :], overlap[:, j] = -1, -1
    count += 1
  return count


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--videos', type=int, default=6)
  parser.add_argument('--frames', type=int, default=36)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--every', type=int, nargs='+', default=[1, 2, 3, 4])
  parser.add_argument('--workers', type=int, default=None, help='detection processes')
  parser.add_argument('--json', default='', help='write the result here too')
  args = parser.parse_args(argv)
  result = {'benchmark': 'detect_every', 'videos': args.videos, 'frames': args.frames,
            'seed': args.seed, 'tracking': TRACKING, 'machine': harness.machine()}
  with tempfile.TemporaryDirectory() as folder:
    root = os.path.join(folder, 'data')
    synthetic.generate(root, seed=args.seed, train_videos=0, val_videos=args.videos,
                       frames=args.frames, verbose=False)
    truth = ground_truth(root)
    detections = {}
    for video in sorted(truth):
      frames = video_frames.open_frames(os.path.join(root, video))
      with detection_jobs.DetectionJob(frames, workers=args.workers) as job:
        detections[video] = job.boxes()
  people = sum(len(b) for frames in truth.values() for b in frames.values())
  for k in args.every:
    found = {t: 0 for t in THRESHOLDS}
    boxes = detected = total = 0
    for video, all_boxes in detections.items():
      numbers = detection_jobs.detected_frames(len(all_boxes), k)
      chosen = set(numbers)
      kept = [all_boxes[t] if t in chosen else [] for t in range(len(all_boxes))]
      tracks = box_tracker.link_tracks(kept, detected=numbers, **TRACKING)
      for t, frame_boxes in enumerate(tracks):
        boxes += len(frame_boxes)
        for threshold in THRESHOLDS:
          found[threshold] += matched(truth[video].get(t, np.zeros((0, 4))), frame_boxes,
                                      threshold)
      detected += len(numbers)
      total += len(all_boxes)
    result[f'every_{k}'] = {
        'detected_share': detected / total, 'boxes_per_frame': boxes / total,
        **{f'recall_iou{t}': found[t] / people for t in THRESHOLDS},
        **{f'precision_iou{t}': found[t] / max(boxes, 1) for t in THRESHOLDS}}
  result['people'] = people
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
