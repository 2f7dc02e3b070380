"""The dataset folder: PoseTrack18 layout, the JSON documents, the manifest, the atomic swap.

ROOT/
  images/{train,val}/<video>/%06d.jpg      frames, numbered from 0
  annotations/{train,val}/<video>.json     per-video PoseTrack18 ground truth (poseval input)
  json/posetrack_{train,val}.json          single-file COCO-style keypoints (training reader)
  json/val_boxes.json                      simulated detector boxes for val
  synthetic_dataset.json                   manifest: settings, paths, statistics (and the
                                           degraded frames, when settings ask for them)

Per-video files are written by `data_pipeline.posetrack_video` (exactly the PoseTrack18
layout). The single-file JSON is the concatenation of the same per-video documents with COCO
ids, `area`, `num_keypoints`, `iscrowd`, image `width`/`height`, and two synthetic extras
readers may ignore: per annotation `occluded` (17 flags: labelled but hidden by something in
front in this frame) and per image `blur` (motion blur length in pixels, 0 if none).
"""

from __future__ import annotations

import os

import numpy as np

from data_pipeline import atomic_files
from data_pipeline import posetrack_video
from data_pipeline.synthetic import settings as settings_lib

MANIFEST = 'synthetic_dataset.json'
GENERATOR = 'famipose-jax data_pipeline.synthetic'
FORMAT_VERSION = 1
PATHS = {
    'images': 'images',
    'annotations': 'annotations',
    'train_json': 'json/posetrack_train.json',
    'val_json': 'json/posetrack_val.json',
    'val_boxes': 'json/val_boxes.json',
}


def frame_path(split: str, index: int, frame: int) -> str:
  """Path of a frame relative to the root (also its `file_name`)."""
  return f'images/{split}/{settings_lib.video_name(split, index)}/{frame:06d}.jpg'


def annotation_path(split: str, index: int) -> str:
  return f'annotations/{split}/{settings_lib.video_name(split, index)}.json'


def video_annotation(settings: settings_lib.Settings, split: str, index: int,
                     frames: list) -> posetrack_video.VideoAnnotation:
  """The per-video ground truth of `labels.FrameLabel`s as posetrack_video dataclasses."""
  out = []
  for t, frame in enumerate(frames):
    persons = [posetrack_video.PersonAnnotation(
        keypoints=p.keypoints, present=p.keypoints[:, 2] > 0, head_box=p.head_box,
        bbox=p.bbox, track_id=p.track_id) for p in frame.persons]
    out.append(posetrack_video.FrameAnnotation(
        file_name=frame_path(split, index, t), frame_index=t,
        image_id=settings_lib.image_id(split, index, t), is_labeled=frame.is_labeled,
        ignore_regions=list(frame.ignore_regions), persons=persons))
  return posetrack_video.VideoAnnotation(
      name=settings_lib.video_name(split, index), layout=posetrack_video.POSETRACK18,
      frames=out, video_id=f'{settings_lib.video_number(split, index):06d}')


def write_video_file(root: str, settings, split: str, index: int, frames: list):
  posetrack_video.write_video(video_annotation(settings, split, index, frames),
                              os.path.join(root, annotation_path(split, index)),
                              layout=posetrack_video.POSETRACK18)


def coco_document(settings, split: str, videos: list) -> dict:
  """The single-file COCO-style keypoint JSON of a split.

  Args:
    settings: generator settings.
    split: 'train' or 'val'.
    videos: (index, frame labels, blur lengths [T]) per video, in order.
  """
  images, annotations, categories = [], [], None
  for index, frames, blur in videos:
    doc = posetrack_video.to_posetrack18(video_annotation(settings, split, index, frames))
    categories = doc['categories']
    for image, length in zip(doc['images'], blur):
      image.update(width=settings.width, height=settings.height,
                   blur=round(float(length), 2))
      images.append(image)
    labels = [p for frame in frames for p in frame.persons]
    per_image = {}
    for annotation, label in zip(doc['annotations'], labels, strict=True):
      k = per_image.setdefault(annotation['image_id'], 0)
      per_image[annotation['image_id']] = k + 1
      _, _, w, h = annotation['bbox']
      annotation.update(id=annotation['image_id'] * 100 + k,
                        area=round(w * h, 2), num_keypoints=label.num_keypoints, iscrowd=0,
                        occluded=[int(v) for v in label.occluded])
      annotations.append(annotation)
  if categories is None:
    categories = posetrack_video.to_posetrack18(
        posetrack_video.VideoAnnotation('empty', posetrack_video.POSETRACK18, []))['categories']
  return {'images': images, 'annotations': annotations, 'categories': categories}


def detection_records(split: str, index: int, per_frame: list) -> list:
  """Detection JSON entries of one video: per_frame[t] = [(bbox xywh, score)]."""
  records = []
  for t, boxes in enumerate(per_frame):
    for bbox, score in boxes:
      records.append({'image_id': settings_lib.image_id(split, index, t),
                       'image_name': frame_path(split, index, t),
                       'bbox': bbox, 'score': score, 'category_id': 1})
  return records


def manifest_document(settings, videos: dict, stats: dict, degraded: dict | None = None
                      ) -> dict:
  """The manifest; `degraded` ({split: {video: {frame: kind}}}) when frames were degraded."""
  document = {'generator': GENERATOR, 'format_version': FORMAT_VERSION,
              'settings': settings.to_dict(), 'paths': dict(PATHS), 'videos': videos,
              'stats': stats}
  if degraded is not None:
    document['degraded_frames'] = degraded
  return document


def write_json(document, path: str):
  atomic_files.write_json_atomic(path, document, compact=True, allow_nan=False)


def stats_of(frames: list) -> dict:
  """Counts of one video's labels (summed over videos for the manifest)."""
  labelled = [f for f in frames if f.is_labeled]
  persons = [p for f in labelled for p in f.persons]
  return {
      'frames': len(frames),
      'labeled_frames': len(labelled),
      'persons': len(persons),
      'labeled_joints': int(sum(p.num_keypoints for p in persons)),
      'occluded_labeled_joints': int(sum(int(np.sum(p.occluded)) for p in persons)),
      'ignore_regions': int(sum(len(f.ignore_regions) for f in labelled)),
  }
