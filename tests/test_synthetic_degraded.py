"""Degraded key frames (Settings.degraded_frame_share): where they fall, what they do and spare."""

import json
import os

import cv2
import numpy as np
import pytest

from data_pipeline.synthetic import Settings, generate, scenes, variant
from data_pipeline.synthetic import dataset as dataset_lib
from data_pipeline.synthetic import writer

DEGRADED = dict(variant('tiny').to_dict(), frames=12, degraded_frame_share=0.3)


def test_spaced_frames_keep_two_clean_neighbours():
  rng = np.random.default_rng(0)
  for count in range(0, 7):
    frames = scenes.spaced_frames(rng, 20, count, 3)
    assert len(frames) == count and len(set(frames.tolist())) == count
    assert np.all(np.diff(frames) >= 3) and frames.min(initial=0) >= 0
    assert frames.max(initial=0) < 20
  # At most ceil(T / gap) fit: asking for more gives every third frame.
  assert scenes.spaced_frames(rng, 7, 10, 3).tolist() == [0, 3, 6]


def test_the_rest_of_the_video_is_unchanged():
  clean = scenes.plan_video(Settings(**dict(DEGRADED, degraded_frame_share=0.0)), 'val', 0)
  bad = scenes.plan_video(Settings(**DEGRADED), 'val', 0)
  hit = np.flatnonzero(bad.degraded)
  assert len(hit) == round(0.3 * 12) == 4
  assert np.all(np.diff(hit) >= 3)
  assert not clean.degraded.any()
  np.testing.assert_array_equal(clean.camera, bad.camera)
  untouched = bad.degraded != scenes.DEGRADATIONS.index('blur') + 1
  np.testing.assert_array_equal(clean.blur[untouched], bad.blur[untouched])
  for a, b in zip(clean.occluders, bad.occluders):
    assert (a.kind, a.size, a.colour) == (b.kind, b.size, b.colour)
    np.testing.assert_array_equal(a.positions, b.positions)
  kinds = [scenes.DEGRADATIONS[c - 1] for c in bad.degraded[hit]]
  assert len(bad.occluders) - len(clean.occluders) == kinds.count('occluder')
  for t in np.flatnonzero(bad.degraded == 0):          # a clean frame renders the same pixels
    np.testing.assert_array_equal(scenes.render_frame(clean, t)[0],
                                  scenes.render_frame(bad, t)[0])


def test_each_degradation_does_its_damage():
  plan = None
  for index in range(20):    # a video that has all three kinds
    candidate = scenes.plan_video(Settings(**DEGRADED), 'train', index)
    if set(candidate.degraded[candidate.degraded > 0]) == {1, 2, 3}:
      plan = candidate
      break
  assert plan is not None
  for t in np.flatnonzero(plan.degraded):
    kind = scenes.DEGRADATIONS[plan.degraded[t] - 1]
    image, owner, _ = scenes.render_frame(plan, t)
    if kind == 'blur':
      assert plan.blur[t, 0] >= 32 * plan.settings.unit
    elif kind == 'corrupt':
      first, end = plan.corrupt_rows[t]
      assert end - first >= int(0.3 * plan.settings.height) - 1
      # The band repeats the row above it, and hides every joint behind it.
      assert np.all(image[first:end] == image[max(first - 1, 0)])
      assert np.all(owner[first:end] == 255)
    else:
      # The one-frame occluder is drawn in this frame only.
      ownerless = scenes.render_frame(plan, t - 1 if t else t + 1)[1]
      assert (owner == 255).sum() > (ownerless == 255).sum()


def test_manifest_lists_degraded_frames_and_their_statistics(tmp_path):
  data = generate(str(tmp_path / 'data'), workers=1, verbose=False, **DEGRADED)
  with open(os.path.join(data.root, writer.MANIFEST)) as f:
    manifest = json.load(f)
  listed = manifest['degraded_frames']
  assert sorted(listed) == ['train', 'val']
  for split in ('train', 'val'):
    stats = manifest['stats'][split]['degraded']
    frames = [int(t) for video in listed[split].values() for t in video]
    assert sum(stats['frames'].values()) == len(frames) == 4
    assert stats['labeled_frames_percent'] == pytest.approx(100 * 4 / 12, abs=0.05)
    kinds = [k for video in listed[split].values() for k in video.values()]
    assert stats['frames'] == {k: kinds.count(k) for k in scenes.DEGRADATIONS}
  # The frames on disk are the rendered ones (a corrupted band survives JPEG as flat rows).
  for t, kind in listed['val']['100001_synthetic_val'].items():
    image = cv2.imread(os.path.join(data.root, writer.frame_path('val', 0, int(t))))
    assert image.shape == (90, 160, 3)
    if kind == 'corrupt':
      first, end = scenes.plan_video(data.settings, 'val', 0).corrupt_rows[int(t)]
      rows = image[first + 2:end - 2].astype(int)
      assert np.abs(rows - rows[:1]).mean() < 3


def test_old_manifest_without_the_new_setting_is_still_the_same_dataset(tmp_path):
  settings = variant('tiny').to_dict()
  root = generate(str(tmp_path / 'data'), workers=1, verbose=False, **settings).root
  path = os.path.join(root, writer.MANIFEST)
  with open(path) as f:
    manifest = json.load(f)
  del manifest['settings']['degraded_frame_share']     # as written before the setting existed
  with open(path, 'w') as f:
    json.dump(manifest, f)
  assert dataset_lib._check_target(root, Settings(**settings), overwrite=False) == 'same'
  with pytest.raises(dataset_lib.DatasetExistsError, match='degraded_frame_share'):
    dataset_lib._check_target(root, Settings(**dict(settings, degraded_frame_share=0.2)),
                              overwrite=False)


@pytest.mark.parametrize('share', [-0.1, 0.34, True, 'a'])
def test_share_is_validated(share):
  with pytest.raises(ValueError, match='degraded_frame_share'):
    Settings(degraded_frame_share=share)


def test_unknown_variant_is_named():
  with pytest.raises(ValueError, match="'nope'.*ablation"):
    variant('nope')
