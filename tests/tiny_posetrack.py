"""A tiny PoseTrack-layout folder for the data tests (built in tmp_path).

Frames are small smooth-textured JPEGs so that crops have structure; every person has 15
labelled joints (ears never annotated).
"""

import json
import os

import cv2
import numpy as np

from data_pipeline import joints as joint_layout

PERSON_TEMPLATE = np.array([   # x, y of the 17 slots for a person standing in a 1 x 2 box
    (0.5, 0.12), (0.5, 0.2), (0.5, 0.02), (0.0, 0.0), (0.0, 0.0),
    (0.7, 0.25), (0.3, 0.25), (0.8, 0.4), (0.2, 0.4), (0.85, 0.55), (0.15, 0.55),
    (0.62, 0.55), (0.38, 0.55), (0.64, 0.75), (0.36, 0.75), (0.65, 0.95), (0.35, 0.95)],
    np.float64)


def frame_texture(rng, width, height):
  """A smooth random colour image (uint8 BGR), so bilinear crops are not trivial."""
  coarse = rng.integers(0, 256, size=(max(height // 8, 2), max(width // 8, 2), 3), dtype=np.uint8)
  return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def person_keypoints(x, y, w, h):
  """[17, 3] keypoints of a person in box (x, y, w, h); ears (slots 3, 4) unannotated."""
  kp = np.zeros((joint_layout.NUM_JOINTS, 3))
  kp[:, 0] = x + PERSON_TEMPLATE[:, 0] * w
  kp[:, 1] = y + PERSON_TEMPLATE[:, 1] * h
  kp[:, 2] = 1
  kp[list(joint_layout.UNANNOTATED_JOINTS)] = 0
  return kp


def write_tiny_posetrack(root, *, videos=2, frames=6, size=(64, 48), layout='pt18',
                         persons=2, labelled=None, seed=0, jpeg_quality=95):
  """Writes images, both single-file JSONs, detections and per-video files under `root`.

  Args:
    layout: 'pt18' (%06d frames from 0) or 'pt17' (%08d from 1).
    labelled: frame positions (0-based) that carry persons (default: all).

  Returns:
    {'train': [video names], 'val': [video names]}.
  """
  rng = np.random.default_rng(seed)
  width, height = size
  digits, first = (6, 0) if layout == 'pt18' else (8, 1)
  labelled = range(frames) if labelled is None else labelled
  names = {}
  image_id = 1
  for split in ('train', 'val'):
    coco = {'images': [], 'annotations': [],
            'categories': [{'id': 1, 'name': 'person',
                            'keypoints': list(joint_layout.JOINT_NAMES)}]}
    detections = []
    names[split] = []
    for v in range(videos):
      video = f'{v + 1:06d}_mpii_{split}'
      names[split].append(video)
      folder = os.path.join('images', split, video)
      os.makedirs(os.path.join(root, folder), exist_ok=True)
      per_video = {'images': [], 'annotations': [], 'categories': coco['categories']}
      for f in range(frames):
        number = first + f
        file_name = os.path.join(folder, str(number).zfill(digits) + '.jpg')
        image = frame_texture(rng, width, height)
        cv2.imwrite(os.path.join(root, file_name), image,
                    [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        record = {'id': image_id, 'file_name': file_name, 'nframes': frames,
                  'frame_id': image_id, 'width': width, 'height': height,
                  'is_labeled': f in labelled}
        coco['images'].append(record)
        per_video['images'].append({k: record[k] for k in
                                    ('id', 'file_name', 'nframes', 'frame_id', 'is_labeled')})
        if f in labelled:
          for p in range(persons):
            bw, bh = width * 0.3, height * 0.6
            bx = width * (0.1 + 0.45 * p) + f
            by = height * 0.2
            kp = person_keypoints(bx, by, bw, bh)
            ann = {'id': len(coco['annotations']) + 1, 'image_id': image_id, 'category_id': 1,
                   'bbox': [bx, by, bw, bh], 'area': bw * bh, 'iscrowd': 0,
                   'keypoints': kp.reshape(-1).round(2).tolist(), 'track_id': p,
                   'bbox_head': [bx + 0.4 * bw, by, 0.2 * bw, 0.2 * bh]}
            coco['annotations'].append(ann)
            per_video['annotations'].append(dict(ann))
            detections.append({'image_name': file_name, 'bbox': [bx - 1, by - 1, bw + 2, bh + 2],
                               'score': 0.9 - 0.1 * p, 'category_id': 1})
          detections.append({'image_name': file_name, 'bbox': [1, 1, 10, 10], 'score': 0.1,
                             'category_id': 1})
        image_id += 1
      os.makedirs(os.path.join(root, 'annotations', split), exist_ok=True)
      with open(os.path.join(root, 'annotations', split, video + '.json'), 'w') as f:
        json.dump(per_video, f)
    with open(os.path.join(root, 'annotations', f'posetrack_{split}.json'), 'w') as f:
      json.dump(coco, f)
    if split == 'val':
      with open(os.path.join(root, 'annotations', 'val_boxes.json'), 'w') as f:
        json.dump(detections, f)
  return names


def tiny_config(root, **overrides):
  """config.data of the PoseTrack17 config, shrunk for tests and pointed at `root`."""
  from configs import posetrack17  # pylint: disable=g-import-not-at-top
  config = posetrack17.get_config()
  data = config.data
  data.root = str(root)
  data.image_size = (32, 40)
  data.heatmap_size = (8, 10)
  data.sigma = 1.0
  data.simcc_sigma = 2.0
  data.num_workers = 2
  for key, value in overrides.items():
    data[key] = value
  return data
