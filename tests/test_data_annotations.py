"""Sample lists from the single-file JSON, detection boxes and per-video files."""

import json

import numpy as np
import pytest

from data_pipeline import crop_affine
from data_pipeline.bad_input import BadInputPolicy
from data_pipeline.coco_keypoints import BoxConvention, clean_box, read_ground_truth
from data_pipeline.detections import read_detections
from data_pipeline.frame_source import FolderFrameSource
from data_pipeline.video_samples import read_video_folder
from tests.tiny_posetrack import write_tiny_posetrack

BOXES = BoxConvention(aspect_ratio=0.75, enlarge=1.25, pixel_std=200.0)


def _read_gt(root, path, mode='error'):
  source = FolderFrameSource(str(root))
  return read_ground_truth(str(path), num_joints=17, boxes=BOXES, numbering='auto',
                           policy=BadInputPolicy(mode), image_size=source.image_size,
                           count_frames=source.count_frames)


def test_clean_box_is_the_published_clipping():
  assert clean_box((-5, 3, 20, 10), 64, 48) == (0.0, 3.0, 19.0, 9.0)
  assert clean_box((60, 40, 20, 20), 64, 48) == (60.0, 40.0, 3.0, 7.0)
  assert clean_box((10, 10, 0.5, 4), 64, 48) == (10.0, 10.0, 0.0, 3.0)


def test_ground_truth_samples(tmp_path):
  write_tiny_posetrack(tmp_path, videos=2, frames=3, layout='pt17')
  path = tmp_path / 'annotations' / 'posetrack_train.json'
  data = json.loads(path.read_text())
  ann = data['annotations']
  ann[0]['keypoints'][5 * 3 + 2] = 2                       # visibility 2 -> 1
  ann[1]['keypoints'] = [0] * 51                           # no labelled joint: dropped
  ann[2]['iscrowd'] = 1                                    # crowd: dropped
  ann[3]['category_id'] = 7                                # not a person: dropped
  ann[4]['bbox'] = [-5.0, 3.0, 20.0, 10.0]                 # clipped as published
  path.write_text(json.dumps(data))
  samples, images = _read_gt(tmp_path, path)
  assert len(images) == 6 and len(samples) == 12 - 3
  first = samples[0]
  assert first.file_name == 'images/train/000001_mpii_train/00000001.jpg'
  assert (first.frame.number, first.frame.first_number, first.num_frames) == (1, 1, 3)
  assert first.joints.shape == (17, 3) and first.joints[5, 2] == 1
  np.testing.assert_array_equal(first.joints[3:5], 0)
  clipped = [s for s in samples if s.box == (0.0, 3.0, 19.0, 9.0)]
  assert len(clipped) == 1
  center, scale = crop_affine.box_to_center_scale((0.0, 3.0, 19.0, 9.0), 0.75, 1.25, 200.0)
  np.testing.assert_array_equal(clipped[0].center, center)
  np.testing.assert_array_equal(clipped[0].scale, scale)
  # File order: image by image, persons in annotation order.
  assert [s.image_id for s in samples] == [1, 3, 3, 4, 4, 5, 5, 6, 6]


def test_detection_samples_by_name_and_by_id(tmp_path):
  write_tiny_posetrack(tmp_path, videos=1, frames=4, layout='pt18')
  source = FolderFrameSource(str(tmp_path))
  common = dict(score_threshold=0.2, boxes=BOXES, numbering='auto',
                image_size=source.image_size, count_frames=source.count_frames)
  det_path = tmp_path / 'annotations' / 'val_boxes.json'
  samples = read_detections(str(det_path), policy=BadInputPolicy('error'), images=None, **common)
  assert len(samples) == 8                                  # the 0.1-score boxes are dropped
  assert [s.box_score for s in samples[:2]] == [0.9, pytest.approx(0.8)]
  assert samples[0].joints is None and samples[0].num_frames == 4   # counted in the folder
  assert (samples[0].frame.number, samples[0].frame.first_number) == (0, 0)
  # The same boxes named by image id, resolved through the split's COCO-style file.
  dets = json.loads(det_path.read_text())
  _, images = _read_gt(tmp_path, tmp_path / 'annotations' / 'posetrack_val.json')
  by_name = images_by_file = {r.frame.path_of(r.frame.number): i for i, r in images.items()}
  for det in dets:
    det['image_id'] = by_name[det.pop('image_name')]
  det_path.write_text(json.dumps(dets))
  by_id = read_detections(str(det_path), policy=BadInputPolicy('error'), images=images, **common)
  assert [s.file_name for s in by_id] == [s.file_name for s in samples]
  assert [s.image_id for s in by_id] == [images_by_file[s.file_name] for s in samples]
  np.testing.assert_array_equal(by_id[3].center, samples[3].center)


def test_per_video_files_give_the_same_samples(tmp_path):
  write_tiny_posetrack(tmp_path, videos=2, frames=3, layout='pt18')
  source = FolderFrameSource(str(tmp_path))
  from_json, _ = _read_gt(tmp_path, tmp_path / 'annotations' / 'posetrack_train.json')
  from_videos = read_video_folder(str(tmp_path / 'annotations' / 'train'), num_joints=17,
                                  boxes=BOXES, numbering='auto',
                                  policy=BadInputPolicy('error'), image_size=source.image_size)
  assert [s.file_name for s in from_videos] == [s.file_name for s in from_json]
  for a, b in zip(from_videos, from_json):
    np.testing.assert_allclose(a.center, b.center, rtol=1e-6)
    np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
    assert a.num_frames == 3 and a.track_id == b.track_id


def test_posetrack17_annolist_files_box_persons_by_their_joints(tmp_path):
  from data_pipeline import posetrack_video  # pylint: disable=g-import-not-at-top
  write_tiny_posetrack(tmp_path, videos=1, frames=3, layout='pt17')
  folder = tmp_path / 'annotations' / 'train'
  for path in folder.glob('*.json'):      # rewrite the per-video file as a PT17 annolist
    video = posetrack_video.read_video(str(path))
    posetrack_video.write_video(video, str(path), layout='posetrack17')
    assert 'annolist' in json.loads(path.read_text())
  source = FolderFrameSource(str(tmp_path))
  samples = read_video_folder(str(folder), num_joints=17, boxes=BOXES, numbering='auto',
                              policy=BadInputPolicy('error'), image_size=source.image_size)
  from_json, _ = _read_gt(tmp_path, tmp_path / 'annotations' / 'posetrack_train.json')
  assert len(samples) == len(from_json) == 6
  for a, b in zip(samples, from_json):
    np.testing.assert_allclose(a.joints, b.joints, atol=1e-4)
    # No person box in the annolist: the extent of the joints and the head box, then clipped.
    listed = a.joints[a.joints[:, 2] > 0, :2]
    assert a.box[0] == pytest.approx(listed[:, 0].min(), abs=1e-3)
    assert a.box[1] + a.box[3] == pytest.approx(listed[:, 1].max() - 1, abs=1e-3)
