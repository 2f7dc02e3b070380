"""The tiny PoseTrack-layout folder of tests/tiny_posetrack.py has the files it promises."""

import json
import os

from tests.tiny_posetrack import write_tiny_posetrack


def test_fixture_layout(tmp_path):
  names = write_tiny_posetrack(tmp_path, videos=1, frames=3, layout='pt17')
  assert names == {'train': ['000001_mpii_train'], 'val': ['000001_mpii_val']}
  listing = sorted(os.listdir(tmp_path / 'images' / 'val' / '000001_mpii_val'))
  assert listing == ['00000001.jpg', '00000002.jpg', '00000003.jpg']
  with open(tmp_path / 'annotations' / 'posetrack_train.json') as f:
    coco = json.load(f)
  assert len(coco['images']) == 3 and len(coco['annotations']) == 6
  assert len(coco['annotations'][0]['keypoints']) == 51
  with open(tmp_path / 'annotations' / 'val_boxes.json') as f:
    assert len(json.load(f)) == 9   # 2 persons + 1 low-score box per frame
