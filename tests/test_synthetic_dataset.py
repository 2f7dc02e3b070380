"""The synthetic dataset on disk: formats, determinism, the folder rules, the command line."""

import glob
import json
import os

import cv2
import numpy as np
import pytest

from configs import synthetic_data
from data_pipeline import joints, posetrack_video
from data_pipeline.synthetic import DatasetExistsError, Settings, generate, scenes
from data_pipeline.synthetic.__main__ import main as cli_main

TINY = dict(synthetic_data.get_config('tiny'))


def _json_bytes(root):
  paths = sorted(glob.glob(os.path.join(root, '**', '*.json'), recursive=True))
  return {os.path.relpath(p, root): open(p, 'rb').read() for p in paths}


def _jpeg_bytes(root):
  paths = sorted(glob.glob(os.path.join(root, 'images', '**', '*.jpg'), recursive=True))
  return {os.path.relpath(p, root): open(p, 'rb').read() for p in paths}


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  return generate(str(tmp_path_factory.mktemp('syn') / 'data'), workers=1, verbose=False,
                  **TINY)


def _load(path):
  with open(path) as f:
    return json.load(f)


def test_folder_layout_and_frames(dataset):
  root, s = dataset.root, dataset.settings
  assert sorted(os.listdir(root)) == ['annotations', 'images', 'json', 'synthetic_dataset.json']
  assert sorted(os.listdir(os.path.join(root, 'images', 'train'))) == ['000001_synthetic_train']
  assert sorted(os.listdir(os.path.join(root, 'images', 'val'))) == ['100001_synthetic_val']
  frames = sorted(os.listdir(os.path.join(root, 'images', 'val', '100001_synthetic_val')))
  assert frames == [f'{t:06d}.jpg' for t in range(6)]
  for split, video in (('train', '000001_synthetic_train'), ('val', '100001_synthetic_val')):
    doc = _load(os.path.join(dataset.annotations_dir(split), video + '.json'))
    for image in doc['images']:
      pixels = cv2.imread(os.path.join(root, image['file_name']))
      assert pixels is not None and pixels.shape == (s.height, s.width, 3)


def test_per_video_json_follows_posetrack18(dataset):
  s = dataset.settings
  path = os.path.join(dataset.annotations_dir('val'), '100001_synthetic_val.json')
  doc = _load(path)
  assert doc['categories'][0]['keypoints'] == list(joints.JOINT_NAMES)
  for t, image in enumerate(doc['images']):
    assert image['id'] == image['frame_id'] == int(f'1100001{t:04d}')
    assert image['file_name'] == f'images/val/100001_synthetic_val/{t:06d}.jpg'
    assert image['vid_id'] == '100001' and image['nframes'] == 6 and image['is_labeled'] is True
  ids = {im['id'] for im in doc['images']}
  assert doc['annotations'], 'tiny settings put at least two people in every video'
  for ann in doc['annotations']:
    assert ann['image_id'] in ids
    kp = np.array(ann['keypoints'], float).reshape(17, 3)
    assert set(np.unique(kp[:, 2])) <= {0.0, 1.0}
    assert np.all(kp[list(joints.UNANNOTATED_JOINTS)] == 0)
    labelled = kp[:, 2] == 1
    assert np.all(kp[~labelled] == 0)
    x, y, w, h = ann['bbox']
    assert w > 0 and h > 0 and x >= 0 and y >= 0
    assert x + w <= s.width + 1e-6 and y + h <= s.height + 1e-6
    hx, hy, hw, hh = ann['bbox_head']
    assert hw > 0 and hh > 0 and hx >= 0 and hy >= 0
    assert hx + hw <= s.width + 1e-6 and hy + hh <= s.height + 1e-6
    # Labelled joints lie in the image and in the person box; the head joints near the head box.
    pts = kp[labelled, :2]
    assert np.all((pts >= 0) & (pts <= [s.width - 1, s.height - 1]))
    assert np.all((pts >= [x - 1e-6, y - 1e-6]) & (pts <= [x + w + 1e-6, y + h + 1e-6]))
    for slot in (1, 2):      # head_bottom, head_top
      if labelled[slot]:
        assert hx - 1 <= kp[slot, 0] <= hx + hw + 1 and hy - 1 <= kp[slot, 1] <= hy + hh + 1
    assert labelled.sum() >= s.min_labeled_joints


def test_per_video_json_reads_back(dataset):
  """posetrack_video reads our files into the same persons the COCO-style file lists."""
  coco = _load(dataset.path('val_json'))
  video = posetrack_video.read_video(
      os.path.join(dataset.annotations_dir('val'), '100001_synthetic_val.json'))
  assert video.layout == 'posetrack18' and video.video_id == '100001'
  assert len(video.frames) == 6
  by_image = {}
  for ann in coco['annotations']:
    by_image.setdefault(ann['image_id'], []).append(ann)
  total = 0
  for frame in video.frames:
    anns = by_image.get(frame.image_id, [])
    assert [p.track_id for p in frame.persons] == [a['track_id'] for a in anns]
    for person, ann in zip(frame.persons, anns):
      np.testing.assert_array_equal(person.keypoints.reshape(-1), ann['keypoints'])
      assert person.present.sum() == ann['num_keypoints']
      assert ann['area'] == pytest.approx(ann['bbox'][2] * ann['bbox'][3], abs=0.01)
      total += 1
    assert len({p.track_id for p in frame.persons}) == len(frame.persons)
    for region in frame.ignore_regions:
      assert region.shape[1] == 2 and len(region) >= 3
  assert total == len(coco['annotations'])
  assert sum(len(f.ignore_regions) for f in video.frames) >= 6   # the crowd, every frame


def test_track_ids_are_stable(dataset):
  """A track id names one person: its head moves little from one frame to the next."""
  s = dataset.settings
  coco = _load(dataset.path('train_json'))
  heads = {}
  for ann in coco['annotations']:
    x, y, w, h = ann['bbox_head']
    heads.setdefault(ann['track_id'], {})[ann['image_id'] % 10000] = (x + w / 2, y + h / 2)
  assert len(heads) >= 2
  steps = [np.hypot(*np.subtract(track[t + 1], track[t]))
           for track in heads.values() for t in track if t + 1 in track]
  assert steps and max(steps) < 0.15 * s.width
  ids = [a['id'] for a in coco['annotations']]
  assert len(set(ids)) == len(ids)


def test_coco_json_images(dataset):
  coco = _load(dataset.path('train_json'))
  assert len(coco['images']) == 6
  for image in coco['images']:
    assert {'id', 'file_name', 'nframes', 'frame_id', 'width', 'height', 'blur'} <= set(image)
    assert (image['width'], image['height']) == (160, 90)
  for ann in coco['annotations']:
    assert len(ann['keypoints']) == 51 and ann['iscrowd'] == 0 and ann['category_id'] == 1
    assert len(ann['occluded']) == 17


def test_detection_boxes(dataset):
  s = dataset.settings
  dets = _load(dataset.path('val_boxes'))
  coco = _load(dataset.path('val_json'))
  names = {im['id']: im['file_name'] for im in coco['images']}
  gt = {}
  for ann in coco['annotations']:
    x, y, w, h = ann['bbox']
    gt.setdefault(ann['image_id'], []).append(np.array([x, y, x + w, y + h]))

  def iou(a, b):
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)

  best, matched = [], set()
  for d in dets:
    assert set(d) == {'image_id', 'image_name', 'bbox', 'score', 'category_id'}
    assert d['category_id'] == 1 and names[d['image_id']] == d['image_name']
    assert 0 < d['score'] <= 1
    x, y, w, h = d['bbox']
    assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= s.width + 1e-6
    box = np.array([x, y, x + w, y + h])
    ious = [iou(box, g) for g in gt.get(d['image_id'], [])]
    best.append(max(ious, default=0.0))
    if ious and max(ious) > 0.5:
      matched.add((d['image_id'], int(np.argmax(ious))))
  best, scores = np.array(best), np.array([d['score'] for d in dets])
  false = best < 0.2
  assert false.sum() >= 3, 'false positives on the background'
  assert (scores < 0.2).sum() >= 3
  n_gt = sum(len(v) for v in gt.values())
  assert len(matched) < n_gt, 'some annotated persons have no box'
  assert len(matched) >= 0.5 * n_gt
  assert scores[best > 0.5].mean() > scores[false].mean() + 0.2   # score follows quality


def test_same_seed_same_bytes_any_worker_count_other_seed_differs(dataset, tmp_path):
  again = generate(str(tmp_path / 'again'), workers=2, verbose=False, **TINY)
  assert _json_bytes(again.root) == _json_bytes(dataset.root)
  first, second = _jpeg_bytes(dataset.root), _jpeg_bytes(again.root)
  assert first.keys() == second.keys() and len(first) == 12
  for name in first:
    a = cv2.imdecode(np.frombuffer(first[name], np.uint8), cv2.IMREAD_COLOR)
    b = cv2.imdecode(np.frombuffer(second[name], np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(a, b)
  other = generate(str(tmp_path / 'other'), workers=1, verbose=False, **dict(TINY, seed=1))
  other_json = _json_bytes(other.root)
  assert other_json.keys() == _json_bytes(dataset.root).keys()
  assert all(other_json[k] != v for k, v in _json_bytes(dataset.root).items()
             if 'annotations' in k)
  name = 'images/val/100001_synthetic_val/000003.jpg'
  a = cv2.imread(os.path.join(dataset.root, name)).astype(int)
  b = cv2.imread(os.path.join(other.root, name)).astype(int)
  assert np.abs(a - b).mean() > 10


def test_sparse_labelling(tmp_path):
  """label_stride=2: every other frame is labelled; the others carry no persons or regions."""
  data = generate(str(tmp_path / 'sparse'), workers=1, verbose=False,
                  **dict(TINY, train_videos=0, frames=5, label_stride=2))
  video = posetrack_video.read_video(
      os.path.join(data.annotations_dir('val'), '100001_synthetic_val.json'))
  assert [f.is_labeled for f in video.frames] == [True, False, True, False, True]
  assert all(not f.persons and not f.ignore_regions for f in video.frames[1::2])
  assert all(f.persons for f in video.frames[::2])
  assert data.stats['val']['labeled_frames'] == 3
  assert len(_load(data.path('val_boxes'))) > 0
  assert {d['image_id'] % 10000 for d in _load(data.path('val_boxes'))} >= {1, 3}


def test_refuses_foreign_folder_and_keeps_it(tmp_path):
  out = tmp_path / 'mine'
  out.mkdir()
  (out / 'notes.txt').write_text('user data')
  with pytest.raises(DatasetExistsError, match='not a synthetic dataset'):
    generate(str(out), workers=1, verbose=False, **TINY)
  assert os.listdir(out) == ['notes.txt'] and (out / 'notes.txt').read_text() == 'user data'
  assert sorted(os.listdir(tmp_path)) == ['mine']        # no partial folder left behind
  afile = tmp_path / 'afile'
  afile.write_text('x')
  with pytest.raises(DatasetExistsError, match='not a folder'):
    generate(str(afile), workers=1, verbose=False, **TINY)


def test_reuse_replace_and_settings_mismatch(tmp_path):
  root = str(tmp_path / 'data')
  tiny = dict(TINY, val_videos=0, frames=3)
  generate(root, workers=1, verbose=False, **tiny)
  manifest = os.path.join(root, 'synthetic_dataset.json')
  stamp = os.stat(manifest).st_mtime_ns
  generate(root, workers=1, verbose=False, **tiny)                  # same settings: reused
  assert os.stat(manifest).st_mtime_ns == stamp
  with pytest.raises(DatasetExistsError, match="'frames': \\(3, 4\\)"):
    generate(root, workers=1, verbose=False, **dict(tiny, frames=4))
  replaced = generate(root, workers=1, verbose=False, overwrite=True, **dict(tiny, frames=4))
  assert replaced.stats['train']['frames'] == 4
  assert len(os.listdir(os.path.join(root, 'images/train/000001_synthetic_train'))) == 4
  assert sorted(os.listdir(tmp_path)) == ['data']
  empty = tmp_path / 'empty'
  empty.mkdir()
  generate(str(empty), workers=1, verbose=False, **tiny)            # an empty folder is fine
  assert os.path.isfile(empty / 'synthetic_dataset.json')


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
  calls = {'n': 0}
  real = scenes.render_frame

  def failing(*args, **kwargs):
    calls['n'] += 1
    if calls['n'] == 4:
      raise KeyboardInterrupt
    return real(*args, **kwargs)

  monkeypatch.setattr(scenes, 'render_frame', failing)
  with pytest.raises(KeyboardInterrupt):
    generate(str(tmp_path / 'data'), workers=1, verbose=False, **TINY)
  assert os.listdir(tmp_path) == []


def test_settings_are_validated():
  with pytest.raises(ValueError, match='frames must be in'):
    Settings(frames=0)
  with pytest.raises(ValueError, match='max_people'):
    Settings(min_people=3, max_people=2)
  with pytest.raises(ValueError, match='blur_frame_prob must be <= 1'):
    Settings(blur_frame_prob=1.5)
  with pytest.raises(ValueError, match="unknown setting\\(s\\) \\['colour'\\]"):
    generate('/nonexistent/never', colour=3)


def test_command_line(tmp_path, capsys):
  out = str(tmp_path / 'cli')
  args = ['--out', out, '--workers', '1', '--train-videos', '1', '--val-videos', '1',
          '--frames', '3', '--width', '160', '--height', '90']
  assert cli_main(args) == 0
  text = capsys.readouterr().out
  assert 'train: 1 videos, 3 frames (3 labelled)' in text and 'val boxes:' in text
  assert _load(os.path.join(out, 'synthetic_dataset.json'))['settings']['frames'] == 3
  assert cli_main(args[:-4] + ['--width', '200', '--height', '90']) == 2
  assert 'other settings' in capsys.readouterr().err
