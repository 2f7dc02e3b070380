"""A picture of the ablation data: one degraded key frame of each kind between its neighbours.

  python -m famipose_jax.ablation.clip_sheet --data data/synthetic_ablation --out clips.jpg

Each row is frames t-1, t (degraded) and t+1 of a validation video, with the ground truth drawn
(a joint hidden in its frame still has its label: annotators infer it from the neighbours).
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

from data_pipeline import atomic_files
from data_pipeline import posetrack_video
from data_pipeline.synthetic import scenes, writer
from famipose_jax import errors
from famipose_jax.evaluation import visualize
from famipose_jax.ablation import key_frame_subsets

_COLOUR = (60, 230, 60)


def _frame_with_truth(root: str, frame: posetrack_video.FrameAnnotation) -> np.ndarray:
  image = cv2.imread(os.path.join(root, frame.file_name))
  if image is None:
    raise errors.MissingInputError(f'{os.path.join(root, frame.file_name)}: missing or unreadable')
  for person in frame.persons:
    visualize.draw_skeleton(image, person.keypoints[:, :2], person.present, _COLOUR)
  return image


def clip_sheet(root: str, split: str = 'val') -> np.ndarray:
  """Rows of (t-1, t, t+1) for the first degraded frame of each kind with people in it."""
  degraded = key_frame_subsets.degraded_frames(root, split)
  rows = []
  for kind in scenes.DEGRADATIONS:
    for video_name in sorted(degraded):
      path = os.path.join(root, writer.PATHS['annotations'], split, video_name + '.json')
      video = posetrack_video.read_video(path, posetrack_video.GROUND_TRUTH)
      hits = [t for t in sorted(degraded[video_name])
              if degraded[video_name][t] == kind and 0 < t < len(video.frames) - 1
              and video.frames[t].persons]
      if hits:
        t = hits[0]
        images = [_frame_with_truth(root, video.frames[u]) for u in (t - 1, t, t + 1)]
        label = f'{video_name} frame {t}: {kind}'
        cv2.putText(images[1], label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255),
                    1, cv2.LINE_AA)
        rows.append(np.concatenate(images, axis=1))
        break
  if not rows:
    raise ValueError(f'{root}: no degraded {split} frame with people between two others')
  return np.concatenate(rows, axis=0)


@errors.command
def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m famipose_jax.ablation.clip_sheet',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--data', required=True, help='a synthetic dataset with degraded frames')
  parser.add_argument('--out', required=True, help='image to write (.jpg or .png)')
  parser.add_argument('--split', default='val', choices=('train', 'val'))
  args = parser.parse_args(argv)
  extension = os.path.splitext(args.out)[1].lower()
  if extension not in ('.jpg', '.jpeg', '.png'):
    raise errors.UsageError(f'--out {args.out}: give a .jpg or .png file name')
  sheet = clip_sheet(args.data, args.split)
  params = [cv2.IMWRITE_JPEG_QUALITY, 85] if extension != '.png' else []
  ok, data = cv2.imencode(extension, sheet, params)
  if not ok:
    raise RuntimeError(f'{extension} encoding failed')
  atomic_files.write_bytes_atomic(args.out, data.tobytes())
  print(f'{args.out}: {sheet.shape[1]}x{sheet.shape[0]}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
