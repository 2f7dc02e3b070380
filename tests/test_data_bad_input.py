"""Bad input: a clear error naming file, field and value, or a counted skip (on_bad_input)."""

import json
import math
import os

import cv2
import numpy as np
import pytest

import data_pipeline
from data_pipeline.bad_input import BadInputError
from data_pipeline.dataset import SampleError
from tests.tiny_posetrack import tiny_config, write_tiny_posetrack

TRAIN_JSON = os.path.join('annotations', 'posetrack_train.json')
VAL_BOXES = os.path.join('annotations', 'val_boxes.json')


@pytest.fixture
def root(tmp_path):
  write_tiny_posetrack(tmp_path, videos=1, frames=4, layout='pt17', persons=2)
  return tmp_path


def _edit_json(path, edit):
  with open(path) as f:
    data = json.load(f)
  edit(data)
  with open(path, 'w') as f:
    json.dump(data, f)


def _expect(root, split, mode, match=None, remaining=None):
  config = tiny_config(root, on_bad_input=mode)
  if mode == 'error':
    with pytest.raises(BadInputError, match=match):
      data_pipeline.build_dataset(config, split)
    return None
  dataset = data_pipeline.build_dataset(config, split)
  assert len(dataset) == remaining
  return dataset


def test_missing_frame_file(root):
  os.remove(root / 'images' / 'train' / '000001_mpii_train' / '00000003.jpg')
  _expect(root, 'train', 'error', match=r'00000003\.jpg.*missing')
  # With offsets -2..+2 every clip of this 4-frame video needs frame 3: nothing is left.
  with pytest.raises(BadInputError, match=r'no usable train samples .*\(8 skipped'):
    data_pipeline.build_dataset(tiny_config(root, on_bad_input='skip'), 'train')
  config = tiny_config(root, on_bad_input='skip', boundary_rule='clamp',
                       supporting_offsets=(-1,))
  dataset = data_pipeline.build_dataset(config, 'train')
  assert len(dataset) == 4 and dataset.num_skipped == 4    # frames 3 and 4 need frame 3


def test_frame_deleted_after_building_names_the_sample(root):
  dataset = data_pipeline.build_dataset(tiny_config(root), 'train')
  os.remove(root / 'images' / 'train' / '000001_mpii_train' / '00000001.jpg')
  with pytest.raises(SampleError, match=r'sample 0 \(images/train/000001_mpii_train/'
                                        r'00000001\.jpg.*frame file not found'):
    dataset.load(0, train=True)


def _frame(root, number):
  return root / 'images' / 'train' / '000001_mpii_train' / f'{number:08d}.jpg'


def _half(path):
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])


def _smaller(path):
  cv2.imwrite(str(path), np.zeros((40, 64, 3), np.uint8))


@pytest.mark.parametrize('damage, match', [
    (lambda path: path.write_bytes(b''), r'frame file is empty'),
    (_half, r'truncated JPEG \(no end-of-image marker\)'),
    (lambda path: path.write_text('not a picture'), r'cannot read the image header'),
    (_smaller, r"field 'frame size' = \(64, 40\): the annotations say 64x48"),
], ids=['empty', 'truncated', 'not_an_image', 'other_size'])
def test_unreadable_frames_are_named_at_build_or_skipped(root, damage, match):
  damage(_frame(root, 3))
  with pytest.raises(BadInputError, match=r'00000003\.jpg.*' + match):
    data_pipeline.build_dataset(tiny_config(root), 'train')
  config = tiny_config(root, on_bad_input='skip', boundary_rule='clamp',
                       supporting_offsets=(-1,))
  dataset = data_pipeline.build_dataset(config, 'train')
  assert len(dataset) == 4 and dataset.num_skipped == 4    # frames 3 and 4 need frame 3
  for index in range(len(dataset)):    # what is left loads: the run does not stop
    dataset.load(index, train=True)


def test_unreadable_frame_that_would_give_the_video_size(root):
  # Per-video files carry no image size: it is read from a frame of the video.
  _frame(root, 1).write_bytes(b'')
  config = tiny_config(root, annotation_source='per_video', boundary_rule='clamp',
                       supporting_offsets=(-1,))
  with pytest.raises(BadInputError, match=r'00000001\.jpg.*frame file is empty'):
    data_pipeline.build_dataset(config, 'train')
  config.on_bad_input = 'skip'
  dataset = data_pipeline.build_dataset(config, 'train')
  assert len(dataset) == 4 and dataset.num_skipped == 4    # frames 1 and 2 need frame 1
  assert dataset.samples[0].image_size == (64, 48)


def test_frame_truncated_after_building_names_the_sample(root):
  dataset = data_pipeline.build_dataset(tiny_config(root), 'train')
  _half(_frame(root, 2))
  with pytest.raises(SampleError, match=r'00000002\.jpg: truncated JPEG'):
    dataset.load(2, train=False)


@pytest.mark.parametrize('damage, match', [
    (lambda text: text[:len(text) // 2], 'truncated'),
    (lambda text: text.replace('"images"', 'images', 1), 'malformed JSON at line 1'),
    (lambda text: '', 'file is empty'),
])
def test_malformed_or_truncated_json(root, damage, match):
  path = root / TRAIN_JSON
  path.write_text(damage(path.read_text()))
  with pytest.raises(BadInputError, match=match) as error:
    data_pipeline.build_dataset(tiny_config(root, on_bad_input='skip'), 'train')
  assert 'posetrack_train.json' in str(error.value)


def test_keypoints_of_the_wrong_length(root):
  _edit_json(root / TRAIN_JSON, lambda d: d['annotations'][1].update(keypoints=[1.0] * 48))
  _expect(root, 'train', 'error',
          match=r"posetrack_train\.json: field 'annotations\[1\]\.keypoints' = '<48 values>': "
                r'should hold 51 values')
  dataset = _expect(root, 'train', 'skip', remaining=7)
  assert dataset.num_skipped == 1


def test_nan_coordinates(root):
  def edit(data):
    data['annotations'][2]['keypoints'][0] = math.nan
  _edit_json(root / TRAIN_JSON, edit)
  _expect(root, 'train', 'error', match=r"'annotations\[2\]\.keypoints' = \[nan, .*finite")
  _expect(root, 'train', 'skip', remaining=7)


@pytest.mark.parametrize('bbox, match', [
    ([200.0, 10.0, 20.0, 20.0], 'entirely outside the 64x48 image'),
    ([10.0, 10.0, 0.0, 20.0], 'zero or negative size'),
])
def test_ground_truth_boxes_outside_or_empty(root, bbox, match):
  _edit_json(root / TRAIN_JSON, lambda d: d['annotations'][3].update(bbox=bbox))
  _expect(root, 'train', 'error', match=r"'annotations\[3\]\.bbox' = .*" + match)
  _expect(root, 'train', 'skip', remaining=7)


def test_detection_boxes(root):
  def edit(dets):
    dets[0]['bbox'] = [5.0, 5.0, -3.0, 10.0]
    del dets[1]['image_name']
    dets[3]['score'] = 'high'
  _edit_json(root / VAL_BOXES, edit)
  _expect(root, 'val', 'error', match=r"val_boxes\.json: field '\[0\]\.bbox' = \[5\.0, 5\.0, "
                                      r'-3\.0, 10\.0\]: box has zero or negative size')
  dataset = _expect(root, 'val', 'skip', remaining=8 - 3)
  assert dataset.num_skipped == 3
