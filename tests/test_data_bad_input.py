"""Bad input: a clear error naming file, field and value, or a counted skip (on_bad_input)."""

import json
import math
import os

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


def test_truncated_jpeg(root):
  path = root / 'images' / 'train' / '000001_mpii_train' / '00000002.jpg'
  data = path.read_bytes()
  path.write_bytes(data[:len(data) // 2])
  dataset = data_pipeline.build_dataset(tiny_config(root), 'train')
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
