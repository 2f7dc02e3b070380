"""ClipDataset.load: one augmentation for the whole clip, targets where the affine sends joints."""

import cv2
import numpy as np
import pytest

import data_pipeline
from data_pipeline import clip_transform as ct
from data_pipeline import crop_affine
from famipose_jax.heads import HeatmapCodec
from tests.tiny_posetrack import tiny_config, write_tiny_posetrack


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
  root = tmp_path_factory.mktemp('posetrack')
  write_tiny_posetrack(root, videos=2, frames=6, layout='pt17')
  return root


def _expected_frame(dataset, index, number, aug):
  s = dataset.samples[index]
  settings = dataset.settings
  frame = cv2.imread(str(dataset.source.path(s.frame.path_of(number))), cv2.IMREAD_COLOR)
  matrix = ct.crop_matrix(aug, s.image_size[0], settings.image_size, settings.pixel_std,
                          settings.crop_convention)
  crop = ct.warp_frame(frame, matrix, settings.image_size)
  return crop[..., ::-1]   # RGB


def _heatmap_codec(data_config) -> HeatmapCodec:
  """The published Gaussian targets (the data pipeline builds the targets it is handed)."""
  return HeatmapCodec(tuple(data_config.image_size), tuple(data_config.heatmap_size),
                      data_config.sigma)


def test_without_codecs_an_element_carries_no_targets(tiny_root):
  element = data_pipeline.build_dataset(tiny_config(tiny_root), 'train').load(0, train=True)
  assert sorted(element) == ['box_score', 'center', 'joints', 'key_image', 'rotation',
                             'sample_index', 'scale', 'supporting_images', 'target_weight',
                             'valid']
  assert not element['target_weight'].any() and element['joints'][:, 2].any()


def test_one_augmentation_crops_every_frame_of_the_clip(tiny_root):
  dataset = data_pipeline.build_dataset(tiny_config(tiny_root), 'train')
  checked = set()
  for index in range(len(dataset)):
    aug = dataset.augmentation(index, train=True, seed=7, epoch=3)
    element = dataset.load(index, train=True, seed=7, epoch=3)
    numbers = dataset.clip_frame_numbers(index)
    np.testing.assert_array_equal(element['key_image'], _expected_frame(dataset, index,
                                                                        numbers[0], aug))
    for j, number in enumerate(numbers[1:]):
      np.testing.assert_array_equal(element['supporting_images'][j],
                                    _expected_frame(dataset, index, number, aug))
    checked.add((aug.flip, aug.rotation != 0))
    assert element['rotation'] == np.float32(aug.rotation)
  assert len(checked) >= 3      # flipped and unflipped, rotated and not, were all exercised


def test_heatmap_peaks_where_the_affine_sends_each_joint(tiny_root):
  config = tiny_config(tiny_root, half_body_prob=0.0)
  dataset = data_pipeline.build_dataset(config, 'train', codecs=[_heatmap_codec(config)])
  settings = dataset.settings
  stride = settings.image_size[0] / settings.heatmap_size[0]
  peaks = 0
  for index in range(len(dataset)):
    s = dataset.samples[index]
    aug = dataset.augmentation(index, train=True, seed=1, epoch=0)
    element = dataset.load(index, train=True, seed=1, epoch=0)
    matrix = ct.crop_matrix(aug, s.image_size[0], settings.image_size, settings.pixel_std,
                            settings.crop_convention)
    sent = crop_affine.apply_affine(s.joints[:, :2], matrix)
    if aug.flip:     # the flip swaps left/right slots
      order = np.arange(17)
      for a, b in settings.flip_pairs:
        order[[a, b]] = order[[b, a]]
      sent, visible = sent[order], s.joints[order, 2]
    else:
      visible = s.joints[:, 2]
    for k in range(17):
      if element['target_weight'][k] == 0:
        continue
      assert visible[k] == 1
      np.testing.assert_allclose(element['joints'][k, :2], sent[k], atol=2e-3)
      expected = (int(sent[k, 1] / stride + 0.5), int(sent[k, 0] / stride + 0.5))
      if not (expected[0] < settings.heatmap_size[1] and expected[1] < settings.heatmap_size[0]):
        continue    # centre just past the edge (x or y = W, H): only the window's rim is drawn
      assert np.unravel_index(np.argmax(element['heatmap'][..., k]),
                              element['heatmap'].shape[:2]) == expected
      assert element['heatmap'][expected + (k,)] == 1.0
      peaks += 1
  assert peaks > 100


def test_same_seed_same_element_and_epochs_differ(tiny_root):
  dataset = data_pipeline.build_dataset(tiny_config(tiny_root), 'train')
  a = dataset.load(5, train=True, seed=3, epoch=0)
  b = dataset.load(5, train=True, seed=3, epoch=0)
  c = dataset.load(5, train=True, seed=3, epoch=1)
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
  assert not np.array_equal(a['key_image'], c['key_image'])


def test_evaluation_element_and_boundary_duplicates(tiny_root):
  config = tiny_config(tiny_root)
  dataset = data_pipeline.build_dataset(config, 'val', codecs=[_heatmap_codec(config)])
  assert len(dataset) == 2 * 6 * 2
  meta = dataset.metadata(0)
  assert meta['video'] == '000001_mpii_val' and meta['frame'] == 1
  assert meta['frame_offset'] == 0 and meta['num_frames'] == 6
  element = dataset.load(0, train=False)
  s = dataset.samples[0]
  np.testing.assert_array_equal(element['center'], s.center)
  np.testing.assert_array_equal(element['scale'], s.scale)
  assert element['rotation'] == 0 and element['box_score'] == np.float32(0.9)
  assert not element['heatmap'].any() and not element['target_weight'].any()
  # Frame 1 of 6, offsets (-2, -1, +1, +2): (1, 1, 2, 3) -> the two previous are the key frame.
  assert meta['clip_files'][1:] == [s.frame.path_of(n) for n in (1, 1, 2, 3)]
  np.testing.assert_array_equal(element['supporting_images'][0], element['key_image'])
  np.testing.assert_array_equal(element['supporting_images'][1], element['key_image'])
  assert not np.array_equal(element['supporting_images'][2], element['key_image'])


def test_reduced_decode_stays_close_to_the_full_decode(tiny_root):
  config = tiny_config(tiny_root, decode_reduction='auto', image_size=(8, 10),
                       heatmap_size=(2, 3))
  reduced = data_pipeline.build_dataset(config, 'val')
  full = data_pipeline.build_dataset(tiny_config(tiny_root, image_size=(8, 10),
                                                 heatmap_size=(2, 3)), 'val')
  aug = reduced.augmentation(0, train=False, seed=0, epoch=0)
  assert reduced.decode_reduction(aug) == 2 and full.decode_reduction(aug) == 1
  a = reduced.load(0, train=False)['key_image'].astype(np.float32)
  b = full.load(0, train=False)['key_image'].astype(np.float32)
  assert np.abs(a - b).mean() < 3 and not np.array_equal(a, b)   # in pixel levels (measured 1.36)
