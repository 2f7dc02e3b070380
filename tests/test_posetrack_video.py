"""Per-video PoseTrack files: both layouts, round trips, conversion, variants and bad input."""

import json
import os

import numpy as np
import pytest

from data_pipeline import joints
from data_pipeline import posetrack_video as ptv

NOSE, HEAD_BOTTOM, HEAD_TOP = 0, 1, 2
L_SHO, R_SHO, R_ANK = 5, 6, 16


def _person(seed, track_id, visible_flags=True, drop=()):
  rng = np.random.default_rng(seed)
  keypoints = np.zeros((17, 3))
  # Quarter-pixel coordinates survive every float conversion exactly.
  keypoints[:, :2] = np.round(rng.uniform(10, 500, (17, 2)) * 4) / 4
  keypoints[:, 2] = 1.0 if visible_flags else rng.uniform(0.05, 1.0, 17)
  present = np.ones(17, bool)
  present[list(joints.UNANNOTATED_JOINTS) + list(drop)] = False
  keypoints[~present] = 0.0
  x, y = keypoints[NOSE, :2]
  return ptv.PersonAnnotation(keypoints=keypoints, present=present,
                              head_box=np.array([x - 10, y - 12.5, x + 10.25, y + 12]),
                              track_id=track_id)


def _video(kind=ptv.GROUND_TRUTH):
  gt = kind == ptv.GROUND_TRUTH
  p0 = _person(0, 3, gt, drop=(9,))
  if gt:
    p0.keypoints[L_SHO, 2] = 0.0   # annotated but occluded: still listed
  frames = [
      ptv.FrameAnnotation(
          file_name='images/val/000342_mpii_test/000000.jpg', frame_index=0, image_id=1,
          is_labeled=True, persons=[p0, _person(1, 7, gt)],
          ignore_regions=[np.array([[0., 0.], [50., 0.], [50., 40.5], [0., 40.5]])]),
      ptv.FrameAnnotation(file_name='images/val/000342_mpii_test/000001.jpg', frame_index=1,
                          image_id=2, is_labeled=False),
      ptv.FrameAnnotation(file_name='images/val/000342_mpii_test/000002.jpg', frame_index=2,
                          image_id=3, is_labeled=True, persons=[_person(2, 3, gt, drop=(15,))]),
  ]
  return ptv.VideoAnnotation(name='000342_mpii_test', layout=ptv.POSETRACK17, frames=frames)


def _assert_same(a, b, *, with_bbox=True):
  assert len(a.frames) == len(b.frames)
  for fa, fb in zip(a.frames, b.frames):
    assert (fa.file_name, fa.frame_index, fa.image_id, fa.is_labeled) == (
        fb.file_name, fb.frame_index, fb.image_id, fb.is_labeled)
    assert len(fa.ignore_regions) == len(fb.ignore_regions)
    for ra, rb in zip(fa.ignore_regions, fb.ignore_regions):
      np.testing.assert_array_equal(ra, rb)
    assert len(fa.persons) == len(fb.persons)
    for pa, pb in zip(fa.persons, fb.persons):
      np.testing.assert_array_equal(pa.present, pb.present)
      np.testing.assert_array_equal(pa.keypoints[pa.present], pb.keypoints[pb.present])
      np.testing.assert_array_equal(pa.head_box, pb.head_box)
      assert pa.track_id == pb.track_id
      if with_bbox:
        assert (pa.bbox is None) == (pb.bbox is None)


@pytest.mark.parametrize('layout', ptv.LAYOUTS)
@pytest.mark.parametrize('kind', ptv.KINDS)
def test_round_trip(tmp_path, layout, kind):
  video = _video(kind)
  path = str(tmp_path / 'v.json')
  ptv.write_video(video, path, layout=layout, kind=kind)
  back = ptv.read_video(path, kind=kind)
  assert back.layout == layout and back.name == 'v'
  _assert_same(video, back)
  assert os.listdir(tmp_path) == ['v.json']   # no temporary file left behind


def test_layout_conversion_preserves_joints_head_boxes_and_regions(tmp_path):
  video = _video()
  ptv.write_video(video, str(tmp_path / 'a.json'), layout=ptv.POSETRACK17)
  pt17 = ptv.read_video(str(tmp_path / 'a.json'))
  ptv.write_video(pt17, str(tmp_path / 'b.json'), layout=ptv.POSETRACK18)
  pt18 = ptv.read_video(str(tmp_path / 'b.json'))
  ptv.write_video(pt18, str(tmp_path / 'c.json'), layout=ptv.POSETRACK17)
  pt17_again = ptv.read_video(str(tmp_path / 'c.json'))
  assert (pt17.layout, pt18.layout, pt17_again.layout) == (
      ptv.POSETRACK17, ptv.POSETRACK18, ptv.POSETRACK17)
  _assert_same(video, pt18)
  _assert_same(video, pt17_again)
  # The occluded shoulder stays annotated with visibility 0 in both layouts.
  assert pt18.frames[0].persons[0].present[L_SHO]
  assert pt18.frames[0].persons[0].keypoints[L_SHO, 2] == 0.0
  # The 17-slot layout is PoseTrack18's order: head_bottom and head_top sit in slots 1 and 2.
  doc = json.load(open(tmp_path / 'b.json'))
  assert doc['categories'][0]['keypoints'][:3] == ['nose', 'head_bottom', 'head_top']
  assert doc['annotations'][0]['keypoints'][3:6] == [
      *video.frames[0].persons[0].keypoints[HEAD_BOTTOM, :2].tolist(), 1]
  assert doc['annotations'][0]['keypoints'][9:12] == [0.0, 0.0, 0]   # left ear, unannotated


def test_posetrack17_variants_and_joint_ids():
  frames = [
      {'image': {'name': 'a/1.jpg'}, 'imgnum': 1, 'annorect': [
          {'x1': 1, 'y1': 2, 'x2': 11, 'y2': 22, 'track_id': 4, 'annopoints': [{'point': [
              {'id': 12, 'x': 5.5, 'y': 6, 'is_visible': True},
              {'id': [14], 'x': [7], 'y': [8], 'is_visible': [0]},
              {'id': [0], 'x': [1], 'y': [2]},
              {'id': [0], 'x': [99], 'y': [99]},     # repeated id: poseval keeps the first
              {'id': [15], 'x': [3], 'y': [3]},      # unknown id: ignored as by poseval
          ]}]},
          {'track_id': [5], 'annopoints': []},
          {'track_id': [6]},
          {'track_id': [7], 'annopoints': [{}]},
          {'track_id': [8], 'annopoints': [{'point': []}]},   # kept by poseval, 0 joints
      ]},
      {'image': [{'name': 'a/2.jpg'}], 'annorect': [], 'is_labeled': [0]},
  ]
  for data in (frames, {'annolist': frames}):
    video = ptv.parse_video(data, name='a')
    person = video.frames[0].persons[0]
    assert np.flatnonzero(person.present).tolist() == [HEAD_BOTTOM, HEAD_TOP, R_ANK]
    np.testing.assert_array_equal(person.keypoints[[HEAD_BOTTOM, HEAD_TOP, R_ANK]],
                                  [[5.5, 6, 1], [7, 8, 0], [1, 2, 1]])
    np.testing.assert_array_equal(person.head_box, [1, 2, 11, 22])
    assert [p.track_id for p in video.frames[0].persons] == [4, 5, 6, 7, 8]
    assert [p.present.sum() for p in video.frames[0].persons] == [3, 0, 0, 0, 0]
    assert [p.has_point_list for p in video.frames[0].persons] == [True, False, False, False,
                                                                    True]
    # Written back, only the persons with a point list get one.
    rects = ptv.to_posetrack17(video)['annolist'][0]['annorect']
    assert ['annopoints' in r for r in rects] == [True, False, False, False, True]
    assert [f.is_labeled for f in video.frames] == [True, False]
    assert [f.image_id for f in video.frames] == [1, None]
  # As predictions the third value is the score; a point without one gets poseval's fallback.
  video = ptv.parse_video({'annolist': [{'image': [{'name': 'x.jpg'}], 'annorect': [
      {'annopoints': [{'point': [{'id': [13], 'x': [1], 'y': [1], 'score': [0.25]},
                                 {'id': [3], 'x': [2], 'y': [2]}]}]}]}]},
                          name='p', kind=ptv.PREDICTIONS)
  person = video.frames[0].persons[0]
  assert person.keypoints[NOSE, 2] == 0.25
  assert person.keypoints[joints.SLOT_OF_EVAL_JOINT[3], 2] == ptv.MISSING_SCORE


def test_posetrack18_names_scores_and_unannotated_points():
  names = list(joints.JOINT_NAMES)
  names[1], names[2] = 'left_eye', 'right_eye'   # COCO names on the head_bottom/top slots
  keypoints = [0.0] * 51
  keypoints[3:6] = [10, 20, 1]     # head_bottom
  keypoints[6:9] = [0, 0, 0]       # head_top unannotated
  keypoints[48:51] = [30, 40, 0]   # right ankle annotated, invisible
  data = {'images': [{'id': 10003420000, 'file_name': 'images/val/000342_mpii_test/000000.jpg',
                      'frame_id': 10003420000, 'vid_id': '000342', 'nframes': 1,
                      'is_labeled': True,
                      'ignore_regions_x': [[0, 4, 4]], 'ignore_regions_y': [[0, 0, 3]]}],
          'annotations': [{'image_id': 10003420000, 'track_id': 2, 'keypoints': keypoints,
                           'bbox_head': [1, 2, 3, 4], 'bbox': [0, 0, 50, 60],
                           'scores': [0.5] * 17}],
          'categories': [{'keypoints': names}]}
  video = ptv.parse_video(data, name='000342_mpii_test')
  person = video.frames[0].persons[0]
  assert video.video_id == '000342'
  assert np.flatnonzero(person.present).tolist() == [HEAD_BOTTOM, R_ANK]
  np.testing.assert_array_equal(person.keypoints[R_ANK], [30, 40, 0])
  np.testing.assert_array_equal(person.head_box, [1, 2, 4, 6])
  np.testing.assert_array_equal(person.bbox, [0, 0, 50, 60])
  np.testing.assert_array_equal(video.frames[0].ignore_regions[0], [[0, 0], [4, 0], [4, 3]])
  preds = ptv.parse_video(data, name='p', kind=ptv.PREDICTIONS).frames[0].persons[0]
  np.testing.assert_array_equal(preds.keypoints[[HEAD_BOTTOM, HEAD_TOP, R_ANK], 2], [0.5, 0, 0.5])
  del data['annotations'][0]['scores']
  preds = ptv.parse_video(data, name='p', kind=ptv.PREDICTIONS).frames[0].persons[0]
  assert preds.keypoints[HEAD_BOTTOM, 2] == ptv.MISSING_SCORE


def _write(tmp_path, text, name='bad.json'):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


CATEGORIES = [{'name': 'person', 'keypoints': list(joints.JOINT_NAMES)}]


def _pt18(keypoints=None, **annotation):
  ann = {'image_id': 1, 'keypoints': keypoints if keypoints is not None else [1.0] * 51}
  ann.update(annotation)
  return {'images': [{'id': 1, 'file_name': 'f.jpg'}], 'annotations': [ann],
          'categories': CATEGORIES}


def _two_videos(**second):
  """A PoseTrack18 document whose second image belongs to another video."""
  images = [{'id': 1, 'vid_id': '000342', 'file_name': 'images/val/000342_mpii_test/000000.jpg'},
            {'id': 2, 'vid_id': '000342', 'file_name': 'images/val/000342_mpii_test/000001.jpg'}]
  images[1].update(second)
  return {'images': images, 'annotations': [], 'categories': CATEGORIES}


@pytest.mark.parametrize('text, fragments', [
    ('{"annolist": [{"image": [{"name": "a.jpg"}], "annorect": [', ['not valid JSON']),
    ('', ['not valid JSON']),
    ('{"frames": []}', ['<top level>', 'neither "annolist" nor "images"']),
    (json.dumps(_pt18([1.0] * 48)),
     ['annotations[0].keypoints', 'expected 51 numbers', 'got 48']),
    (json.dumps({'images': [{'id': 1, 'file_name': 'f.jpg'}], 'annotations': [
        {'image_id': 1, 'keypoints': [1.0] * 51}, {'keypoints': [1.0] * 51}],
                 'categories': CATEGORIES}),
     ['annotations[1].image_id', 'missing field']),
    (json.dumps(_pt18(image_id=7)), ['annotations[0].image_id', 'no image with this id', '7']),
    (json.dumps(_pt18([1.0] * 50 + ['a'])), ['annotations[0].keypoints[50]', "'a'"]),
    (json.dumps(_pt18(bbox_head=[1, 2, 3])), ['annotations[0].bbox_head', 'expected 4']),
    (json.dumps({'annolist': [{'image': [{'name': 'a.jpg'}], 'annorect': [{'annopoints': [
        {'point': [{'id': [0], 'x': [1], 'y': [1]}, {'id': [1], 'x': [float('nan')], 'y': [2]}]}
    ]}]}]}), ['annolist[0].annorect[0].annopoints[0].point[1].x', 'finite', 'nan']),
    (json.dumps({'annolist': [{'image': [{'name': 'a.jpg'}]}]}),
     ['annolist[0].annorect', 'missing field']),
    (json.dumps({'annolist': [{'image': [{'name': 'a.jpg'}], 'annorect': [{'x1': [1]}]}]}),
     ['annolist[0].annorect[0].x2', 'head box incomplete']),
    (json.dumps({'annolist': [{'image': [{'name': 'a.jpg'}], 'annorect': [
        {'annopoints': [{'point': [{'id': [0], 'x': [1, 2], 'y': [1]}]}]}]}]}),
     ['point[0].x', '1-element list', '[1, 2]']),
    (json.dumps({**_pt18(), 'categories': [{'keypoints': ['nose', 'pelvis']}]}),
     ['categories[0].keypoints[1]', 'unknown joint name', 'pelvis']),
    (json.dumps({'images': [{'id': 1, 'file_name': 'f.jpg', 'ignore_regions_x': [[1, 2]],
                             'ignore_regions_y': [[1]]}], 'annotations': [],
                 'categories': CATEGORIES}),
     ['images[0].ignore_regions[0]', '2 x values but 1 y values']),
    (json.dumps({k: v for k, v in _pt18().items() if k != 'categories'}),
     ['categories: missing', 'categories[0].keypoints', 'poseval']),
    (json.dumps(_two_videos(vid_id='000522')),
     ['images[1].vid_id', 'two videos', "'000342'", "'000522'"]),
    (json.dumps(_two_videos(vid_id=None,
                            file_name='images/val/000522_mpii_test/000001.jpg')),
     ['images[1].file_name', 'two videos', "'images/val/000342_mpii_test'",
      "'images/val/000522_mpii_test'"]),
    (json.dumps({'annolist': [
        {'image': [{'name': 'images/bonn/000342_mpii/00000001.jpg'}], 'annorect': []},
        {'image': [{'name': 'images/bonn/000522_mpii/00000001.jpg'}], 'annorect': []}]}),
     ['annolist[1].image', 'two videos', "'images/bonn/000342_mpii'",
      "'images/bonn/000522_mpii'"]),
])
def test_bad_input_names_file_field_and_value(tmp_path, text, fragments):
  path = _write(tmp_path, text)
  with pytest.raises(ValueError) as info:
    ptv.read_video(path)
  message = str(info.value)
  assert message.startswith(path)
  for fragment in fragments:
    assert fragment in message, message


def test_writer_refuses_non_finite_and_keeps_the_old_file(tmp_path):
  path = str(tmp_path / 'v.json')
  video = _video()
  ptv.write_video(video, path)
  before = open(path).read()
  video.frames[2].persons[0].keypoints[NOSE, 0] = np.nan
  with pytest.raises(ValueError, match='frame 2 person 0 keypoints'):
    ptv.write_video(video, path, layout=ptv.POSETRACK18)
  assert open(path).read() == before
  assert os.listdir(tmp_path) == ['v.json']
