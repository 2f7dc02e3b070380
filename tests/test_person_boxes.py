"""Person box files: both formats read back exactly; a bad input names file, place and value."""

import json
import re

import numpy as np
import pytest

from data_pipeline.bad_input import BadInputError
from famipose_jax.inference.person_boxes import (PersonBox, full_frame_boxes, iou_matrix,
                                                 read_box_file, write_box_file)
from tests.tiny_posetrack import write_tiny_posetrack


def _write(tmp_path, document, name='boxes.json'):
  path = tmp_path / name
  path.write_text(document if isinstance(document, str) else json.dumps(document))
  return str(path)


def test_per_frame_file_round_trips_with_track_ids(tmp_path):
  frames = [[PersonBox((10.0, 20.0, 30.0, 60.0), 0.9, 0),
             PersonBox((50.5, 5.0, 20.0, 40.0), 0.4, 1)],
            [],
            [PersonBox((12.0, 21.0, 30.0, 61.0), 0.8, 0)]]
  path = str(tmp_path / 'boxes.json')
  write_box_file(path, frames)
  assert read_box_file(path, 3) == frames


def test_per_frame_file_round_trips_without_track_ids(tmp_path):
  frames = [[PersonBox((1.0, 2.0, 3.0, 4.0), 0.25)], [PersonBox((5.0, 6.0, 7.0, 8.0), 1.0)]]
  path = str(tmp_path / 'boxes.json')
  write_box_file(path, frames)
  assert 'track_id' not in (tmp_path / 'boxes.json').read_text()
  assert read_box_file(path, 2) == frames


def test_per_frame_score_defaults_to_one(tmp_path):
  path = _write(tmp_path, {'frames': [[{'bbox': [1, 2, 3, 4]}], []]})
  assert read_box_file(path, 2) == [[PersonBox((1.0, 2.0, 3.0, 4.0), 1.0, None)], []]


def test_posetrack_detections_matched_by_frame_name(tmp_path):
  folder = 'images/val/000342_mpii_test'
  path = _write(tmp_path, [
      {'image_name': f'{folder}/000002.jpg', 'bbox': [1, 2, 3, 4], 'score': 0.9, 'category_id': 1},
      {'image_name': f'{folder}/000000.jpg', 'bbox': [5, 6, 7, 8], 'score': 0.3, 'category_id': 1},
      {'image_name': f'{folder}/000002.jpg', 'bbox': [9, 9, 9, 9], 'score': 0.7},
      {'image_name': f'{folder}/000001.jpg', 'bbox': [0, 0, 9, 9], 'score': 0.8, 'category_id': 3},
  ])
  names = [f'/videos/mine/{i:06d}.jpg' for i in range(3)]
  assert read_box_file(path, 3, frame_names=names) == [
      [PersonBox((5.0, 6.0, 7.0, 8.0), 0.3)],
      [],                                             # category 3 is not a person
      [PersonBox((1.0, 2.0, 3.0, 4.0), 0.9), PersonBox((9.0, 9.0, 9.0, 9.0), 0.7)]]


def test_posetrack_detections_matched_by_frame_number(tmp_path):
  # Eight digits count from 1 (PoseTrack17), six from 0 (PoseTrack18).
  path17 = _write(tmp_path, [{'image_name': 'v/00000001.jpg', 'bbox': [1, 1, 2, 2], 'score': 0.5},
                             {'image_name': 'v/00000003.jpg', 'bbox': [3, 3, 2, 2], 'score': 0.6}],
                  'pt17.json')
  path18 = _write(tmp_path, [{'image_name': 'v/000002.jpg', 'bbox': [3, 3, 2, 2], 'score': 0.6}],
                  'pt18.json')
  assert read_box_file(path17, 3) == [[PersonBox((1.0, 1.0, 2.0, 2.0), 0.5)], [],
                                      [PersonBox((3.0, 3.0, 2.0, 2.0), 0.6)]]
  assert read_box_file(path18, 3) == [[], [], [PersonBox((3.0, 3.0, 2.0, 2.0), 0.6)]]


def test_reads_the_data_pipelines_val_boxes(tmp_path):
  write_tiny_posetrack(tmp_path, videos=1, frames=4, layout='pt17', persons=2)
  frames = read_box_file(str(tmp_path / 'annotations' / 'val_boxes.json'), 4,
                         image_size=(160, 96))
  # Per labelled frame: two persons (scores 0.9, 0.8) and one small low-score box.
  assert [[round(p.score, 2) for p in boxes] for boxes in frames] == [
      [0.9, 0.8, 0.1], [0.9, 0.8, 0.1], [0.9, 0.8, 0.1], [0.9, 0.8, 0.1]]


def test_full_frame_boxes():
  assert full_frame_boxes(2, 640, 360) == [[PersonBox((0.0, 0.0, 640.0, 360.0), 1.0)]] * 2


def test_iou_matrix():
  iou = iou_matrix([[0, 0, 10, 10], [5, 0, 10, 10]], [[0, 0, 10, 10], [20, 20, 5, 5]])
  np.testing.assert_allclose(iou, [[1.0, 0.0], [50 / 150, 0.0]])


_FRAMES_OK = [[{'bbox': [1, 2, 3, 4], 'track_id': 0}], [{'bbox': [1, 2, 3, 4], 'track_id': 0}]]


def _frames_with(t, i, **fields):
  frames = json.loads(json.dumps(_FRAMES_OK))
  frames[t][i].update(fields)
  return {'frames': frames}


@pytest.mark.parametrize('document, message', [
    ('{"frames": [[{"bbox": [1, 2,', r'malformed JSON at line 1 column \d+: .*truncated'),
    ('17', r'a box file should be a JSON object .* got int'),
    ({'boxes': []}, r"no top-level field 'frames' \(fields: \['boxes'\]\)"),
    ({'frames': {'0': []}}, r"field 'frames' = \{'0': \[\]\}: should be a list"),
    ({'frames': [[], [], []]}, r"field 'frames' covers 3 frames, the video has 2"),
    ({'frames': [[], 5]}, r"field 'frames\[1\]' = 5: should be a list of boxes"),
    (_frames_with(1, 0, bbox=[1, 2, 'x', 4]),
     r"field 'frames\[1\]\[0\]\.bbox' = \[1, 2, 'x', 4\]: should be 4 finite numbers"),
    ('{"frames": [[{"bbox": [1, 2, NaN, 4]}], []]}',
     r"field 'frames\[0\]\[0\]\.bbox' = \[1, 2, nan, 4\]: should be 4 finite numbers"),
    (_frames_with(0, 0, bbox=[1, 2, -3, 4]),
     r"field 'frames\[0\]\[0\]\.bbox' = \[1, 2, -3, 4\]: box has zero or negative size"),
    (_frames_with(0, 0, bbox=[400, 2, 3, 4]),
     r"field 'frames\[0\]\[0\]\.bbox' = \[400, 2, 3, 4\]: box lies entirely outside the "
     r"320x240 image"),
    (_frames_with(1, 0, score='high'),
     r"field 'frames\[1\]\[0\]\.score' = 'high': should be a finite number"),
    (_frames_with(1, 0, track_id=-1),
     r"field 'frames\[1\]\[0\]\.track_id' = -1: should be a non-negative integer"),
    ({'frames': [[{'bbox': [1, 2, 3, 4], 'track_id': 0}], [{'bbox': [1, 2, 3, 4]}]]},
     r"field 'frames\[1\]\[0\]' = .*: has no track_id and the file's first box has one"),
    ({'frames': [[{'bbox': [1, 2, 3, 4], 'track_id': 2}, {'bbox': [5, 2, 3, 4], 'track_id': 2}],
                 []]},
     r"field 'frames\[0\]\[1\]\.track_id' = 2: appears twice in frame 0"),
    ([{'image_name': 'v/000005.jpg', 'bbox': [1, 2, 3, 4], 'score': 0.5}],
     r"field '\[0\]\.image_name' = 'v/000005.jpg': frame index 5 does not exist: the video has "
     r"2 frames \(0..1\)"),
    ([{'image_id': 10003420000, 'bbox': [1, 2, 3, 4], 'score': 0.5}],
     r"field '\[0\]\.image_id' = 10003420000: frames are matched by image_name"),
    ([{'image_name': 'v/000000.jpg', 'bbox': [1, 2, 3, 4]}],
     r"field '\[0\]\.score' = None: should be a finite number"),
    ([{'image_name': 'v/frame_a.jpg', 'bbox': [1, 2, 3, 4], 'score': 0.5}],
     r"field '\[0\]\.image_name' = 'v/frame_a.jpg': .*does not end in a frame number"),
    ([{'image_name': 'a/000000.jpg', 'bbox': [1, 2, 3, 4], 'score': 0.5},
      {'image_name': 'b/000001.jpg', 'bbox': [1, 2, 3, 4], 'score': 0.5}],
     r"field '\[1\]\.image_name' = 'b/000001.jpg': comes from another video than entry \[0\] "
     r"\('a'\)"),
    ([7], r"field '\[0\]' = 7: should be a JSON object"),
])
def test_bad_box_file_names_file_place_and_value(tmp_path, document, message):
  path = _write(tmp_path, document)
  with pytest.raises(BadInputError) as error:
    read_box_file(path, 2, image_size=(320, 240))
  assert str(error.value).startswith(path + ': ')
  assert re.search(message, str(error.value)), str(error.value)


def test_unknown_frame_name_says_which_frames_exist(tmp_path):
  path = _write(tmp_path, [{'image_name': 'v/000009.jpg', 'bbox': [1, 2, 3, 4], 'score': 0.5}])
  with pytest.raises(BadInputError) as error:
    read_box_file(path, 2, frame_names=['clip/000000.jpg', 'clip/000001.jpg'])
  assert str(error.value) == (
      f"{path}: field '[0].image_name' = 'v/000009.jpg': no frame of the video is named "
      "'000009.jpg' (the video has 2 frames, 000000.jpg..000001.jpg)")


def test_missing_file(tmp_path):
  path = str(tmp_path / 'nope.json')
  with pytest.raises(BadInputError, match=re.escape(f'{path}: file not found')):
    read_box_file(path, 2)
