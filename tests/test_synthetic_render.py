"""The synthetic pictures agree with their labels: figure geometry, joints on the drawn figure,
occlusion flags from what covers them, ignore regions around unannotated people, detector."""

import json
import math
import os

import cv2
import numpy as np
import pytest

from configs import synthetic_data
from data_pipeline import joints
from data_pipeline.synthetic import Settings, detector, generate, labels, motion, render, scenes
from data_pipeline.synthetic.settings import video_name
from data_pipeline.synthetic.skeleton import LEFT, RIGHT, SLOT, Body, pose_figure

TINY = dict(synthetic_data.get_config('tiny'))
S = Settings(**TINY)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  return generate(str(tmp_path_factory.mktemp('syn') / 'data'), workers=1, verbose=False,
                  **TINY)


def _coco(dataset, split):
  with open(dataset.path(f'{split}_json')) as f:
    return json.load(f)


def _annotations_by_frame(coco):
  out = {}
  for ann in coco['annotations']:
    out.setdefault(ann['image_id'] % 10000, []).append(ann)
  return out


def _hidden(owner, point, owner_id):
  """Test's own reading of the owner map: most of the 3x3 around the joint is someone else."""
  x, y = int(round(point[0])), int(round(point[1]))
  patch = owner[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
  return ((patch != 0) & (patch != owner_id)).sum() * 2 > patch.size


def _standing(yaw=0.0, **fields):
  return motion._pose(1, x=100.0, ground=300.0, height=200.0, yaw=yaw, head_yaw=yaw,
                      **fields).at(0)


def test_figure_geometry_follows_the_yaw():
  body = Body()
  front = pose_figure(body, _standing(0.0)).joints
  back = pose_figure(body, _standing(math.pi)).joints
  side = pose_figure(body, _standing(math.pi / 2)).joints
  left, right = SLOT['left_shoulder'], SLOT['right_shoulder']
  # Facing the camera, the person's left is on the image right; facing away, the reverse.
  assert front[left, 0] - front[right, 0] == pytest.approx(2 * 0.105 * 200)
  assert back[left, 0] - back[right, 0] == pytest.approx(-2 * 0.105 * 200)
  assert side[left, 0] == pytest.approx(side[right, 0])
  # Upright: head_top above nose above head_bottom above the shoulders; soles on the ground.
  assert front[2, 1] < front[0, 1] < front[1, 1] < front[left, 1]
  ankle_y = front[SLOT['left_ankle'], 1]
  assert 300 - ankle_y == pytest.approx((0.018 + 0.012) * 200)
  assert (300 - front[2, 1]) / 200 == pytest.approx(0.965, abs=0.01)
  # Raising the arm sideways by 90 degrees puts the wrist level with the shoulder.
  raised = pose_figure(body, _standing(0.0, arm_abduction=[math.pi / 2, 0.0])).joints
  assert raised[SLOT['left_wrist'], 1] == pytest.approx(raised[left, 1])
  assert raised[SLOT['left_wrist'], 0] - raised[left, 0] == pytest.approx(
      (0.165 + 0.145) * 200)


def test_head_box_is_posetrack_sized_and_holds_the_head_joints():
  figure = pose_figure(Body(), _standing(0.3))
  x1, y1, x2, y2 = figure.head_box
  head_size = 0.6 * math.hypot(x2 - x1, y2 - y1)
  assert head_size / 200 == pytest.approx(0.117, abs=0.005)
  for slot in (SLOT['nose'], SLOT['head_bottom'], SLOT['head_top']):
    x, y = figure.joints[slot]
    assert x1 < x < x2 and y1 < y < y2


def test_left_and_right_limbs_look_different():
  appearance = render.Appearance(skin=(120, 160, 210), hair=(20, 20, 25), shirt=(40, 120, 200),
                                 trousers=(90, 60, 40), shoe=(30, 30, 30), sleeves='long',
                                 shorts=False)
  image = np.full((400, 200, 3), 128, np.uint8)
  owner = np.zeros((400, 200), np.uint8)
  figure = pose_figure(Body(), _standing(0.0))
  render.draw_figure(image, owner, figure, appearance, 1)
  j = figure.joints

  def limb(a, b):
    pts = np.linspace(j[SLOT[a]], j[SLOT[b]], 20)[4:16]
    return np.array([image[int(round(y)), int(round(x))] for x, y in pts], float)

  left, right = limb('left_knee', 'left_ankle'), limb('right_knee', 'right_ankle')
  # BGR: the left shin is red (R well above B), the right one blue (B well above R).
  assert (left[:, 2] - left[:, 0]).min() > 80
  assert (right[:, 0] - right[:, 2]).min() > 80
  assert np.all(owner[j[5:, 1].round().astype(int), j[5:, 0].round().astype(int)] == 1)


def test_visible_joints_lie_on_the_drawn_figure(dataset):
  """At visible labelled joints the frame differs from the same frame drawn without people."""
  on_joint, on_background = [], []
  for split, video in (('train', 0), ('val', 0)):
    plan = scenes.plan_video(S, split, video)
    anns = _annotations_by_frame(_coco(dataset, split))
    for t in range(S.frames):
      if plan.blur[t, 0] > 0:
        continue
      name = f'images/{split}/{video_name(split, video)}/{t:06d}.jpg'
      frame = cv2.imread(os.path.join(dataset.root, name)).astype(np.float32)
      empty, owner, _ = scenes.render_frame(plan, t, people=False)
      _, owner, _ = scenes.render_frame(plan, t, finish=False)
      diff = np.abs(frame - empty).mean(2)
      diff = cv2.blur(diff, (3, 3))
      for ann in anns.get(t, []):
        kp = np.array(ann['keypoints'], float).reshape(17, 3)
        for slot in np.flatnonzero((kp[:, 2] > 0) & ~np.array(ann['occluded'], bool)):
          x, y = np.round(kp[slot, :2]).astype(int)
          on_joint.append(diff[y, x])
      far = 1 - cv2.dilate((owner > 0).astype(np.uint8), np.ones((7, 7), np.uint8))
      for region in plan.crowd_regions:
        cv2.fillPoly(far, [np.round(region - plan.camera[t]).astype(np.int32)], 0)
      on_background.extend(diff[far > 0][::7])
  on_joint, on_background = np.array(on_joint), np.array(on_background)
  assert len(on_joint) > 100 and len(on_background) > 1000
  assert np.mean(on_joint > 20) > 0.9
  assert np.mean(on_background > 20) < 0.02


def test_occlusion_flags_follow_what_covers_the_joint(dataset):
  window = S.infer_window
  flagged = 0
  for split in ('train', 'val'):
    plan = scenes.plan_video(S, split, 0)
    rendered = [scenes.render_frame(plan, t, finish=False) for t in range(S.frames)]
    hidden = {}   # (t, track) -> [17] bool: outside the image or covered
    inside_now = {}
    for t, (_, owner, states) in enumerate(rendered):
      for st in states:
        if st is not None:
          inside = ((st.joints >= 0) & (st.joints <= [S.width - 1, S.height - 1])).all(1)
          inside_now[t, st.track_id] = inside
          hidden[t, st.track_id] = np.array([
              not ok or _hidden(owner, p, st.track_id + 1) for ok, p in zip(inside, st.joints)])
    for t, anns in _annotations_by_frame(_coco(dataset, split)).items():
      owner = rendered[t][1]
      for ann in anns:
        track = ann['track_id']
        kp = np.array(ann['keypoints'], float).reshape(17, 3)
        labelled = kp[:, 2] > 0
        occluded = np.array(ann['occluded'], bool)
        now = np.array([_hidden(owner, p, track + 1) for p in kp[:, :2]])
        np.testing.assert_array_equal(occluded, labelled & now)
        flagged += occluded.sum()
        near = [hidden[u, track] for u in range(t - window, t + window + 1)
                if (u, track) in hidden]
        seen = ~np.logical_and.reduce(near) & inside_now[t, track]
        np.testing.assert_array_equal(labelled[5:], seen[5:])   # the body joints
        np.testing.assert_array_equal(labelled[:3], seen[:3])   # nose, head_bottom, head_top
  assert flagged >= 20, 'the tiny settings force occluders; some labelled joints are hidden'


def test_labelling_window():
  T, P = 7, 1
  inside = np.ones((T, P, 17), bool)
  visible = np.ones((T, P, 17), bool)
  visible[2:5, 0, 9] = False            # left wrist hidden for 3 frames
  visible[:, 0, 10] = False             # right wrist never seen
  inside[6, 0, 15] = False              # left ankle leaves the image in the last frame
  lab2 = labels.labelled_joints(inside, visible, 2)
  lab1 = labels.labelled_joints(inside, visible, 1)
  assert lab2[:, 0, 9].all()
  assert lab1[:, 0, 9].tolist() == [True, True, True, False, True, True, True]
  assert not lab2[:, 0, 10].any() and not lab2[:, 0, 3:5].any()
  assert lab2[:, 0, 15].tolist() == [True] * 6 + [False]


def test_unannotated_people_are_covered_by_ignore_regions():
  s = Settings(**dict(TINY, min_person_height=0.5, passing_occluders=0.0))
  uncovered, unannotated = 0, 0
  for index in range(2):
    plan = scenes.plan_video(s, 'val', index)
    states = [scenes.render_frame(plan, t, finish=False)[2] for t in range(s.frames)]
    crowd = [scenes.crowd_regions_in_frame(plan, t) for t in range(s.frames)]
    frames = labels.label_video(states, crowd, s)
    for t, frame in enumerate(frames):
      annotated = {p.track_id for p in frame.persons}
      for st in states[t]:
        if st is None or st.track_id in annotated:
          continue
        unannotated += 1
        for x, y in st.joints[st.inside]:
          if not any(cv2.pointPolygonTest(r.astype(np.float32), (float(x), float(y)), True)
                     >= -0.02 for r in frame.ignore_regions):
            uncovered += 1
      for person in plan.crowd:         # the crowd stays inside its polygon
        figure = pose_figure(person.body, person.poses.at(t))
        region = plan.crowd_regions[0].astype(np.float32)
        assert all(cv2.pointPolygonTest(region, (float(x), float(y)), False) >= 0
                   for x, y in figure.outline)
  assert unannotated >= 6 and uncovered == 0


def test_detector_misses_occluded_people_more_and_scores_by_quality():
  rng = np.random.default_rng(0)
  box = np.array([50.0, 20.0, 90.0, 120.0])
  counts = {1.0: [0, []], 0.0: [0, []]}
  for _ in range(400):
    for visible in counts:
      boxes, c = detector.detect_frame(rng, [(box, visible, True)], 160, 160, 0.05, 0.0)
      counts[visible][0] += c['missed']
      counts[visible][1] += [s for _, s in boxes]
  assert counts[1.0][0] / 400 == pytest.approx(0.05, abs=0.03)
  assert counts[0.0][0] / 400 == pytest.approx(0.65, abs=0.06)
  assert np.mean(counts[1.0][1]) > np.mean(counts[0.0][1]) + 0.2
  boxes, c = detector.detect_frame(rng, [(box, 1.0, True)], 160, 160, 0.0, 30.0)
  assert c['false'] >= 15 and all(0 < s <= 1 for _, s in boxes)
  assert [s for _, s in boxes] == sorted((s for _, s in boxes), reverse=True)


def test_skeleton_slots_match_the_joint_layout():
  assert [SLOT[n] for n in joints.JOINT_NAMES] == list(range(17))
  assert (LEFT, RIGHT) == (0, 1)
