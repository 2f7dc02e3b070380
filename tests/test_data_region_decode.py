"""Region-of-interest decoding gives the full decode's pixels, and clips do not change with it."""

import cv2
import numpy as np
import pytest

import data_pipeline
from data_pipeline import clip_transform as ct
from data_pipeline import frame_source
from data_pipeline.bad_input import BadInputError
from tests.tiny_posetrack import tiny_config, write_tiny_posetrack

needs_decoder = pytest.mark.skipif(not frame_source.region_decoding_available(),
                                   reason='the libjpeg-turbo region decoder was not built '
                                          '(setup.py: libjpeg-turbo headers missing)')


def _photo(height=360, width=640):
  from skimage import data  # pylint: disable=g-import-not-at-top
  return cv2.resize(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR), (width, height))


def _encode(image, *params):
  ok, encoded = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90, *params])
  assert ok
  return encoded.tobytes()


_JPEGS = {
    '420': lambda: _encode(_photo()),
    '444': lambda: _encode(_photo(), cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                           cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444),
    '422': lambda: _encode(_photo(), cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
                           cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422),
    'progressive': lambda: _encode(_photo(), cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
    'grey': lambda: _encode(cv2.cvtColor(_photo(), cv2.COLOR_BGR2GRAY)),
    'odd size': lambda: _encode(_photo(203, 317)),
}


@needs_decoder
@pytest.mark.parametrize('kind', list(_JPEGS))
def test_region_pixels_are_the_full_decode_pixels(kind):
  data = _JPEGS[kind]()
  full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  height, width = full.shape[:2]
  rng = np.random.default_rng(0)
  boxes = [(0, 0, width, height), (0, 0, 1, 1), (width - 1, height - 1, width, height),
           (17, 9, 18, min(300, height)), (1, 1, width - 1, height - 1)]
  for _ in range(40):
    x0, x1 = sorted(rng.choice(width + 1, 2, replace=False))
    y0, y1 = sorted(rng.choice(height + 1, 2, replace=False))
    boxes.append((int(x0), int(y0), int(x1), int(y1)))
  for box in boxes:
    region, (x, y), size = frame_source.decode_region(data, 'frame.jpg', box)
    assert size == (width, height)
    assert x <= box[0] and y <= box[1]
    assert x + region.shape[1] >= box[2] and y + region.shape[0] >= box[3]
    np.testing.assert_array_equal(region, full[y:y + region.shape[0], x:x + region.shape[1]],
                                  err_msg=f'{kind} box {box}')


def test_other_formats_fall_back_to_a_whole_decode():
  image = _photo(40, 60)
  ok, png = cv2.imencode('.png', image)
  region, origin, size = frame_source.decode_region(png.tobytes(), 'frame.png', (5, 6, 20, 30))
  assert origin == (5, 6) and size == (60, 40)
  np.testing.assert_array_equal(region, image[6:30, 5:20])
  region, origin, size = frame_source.decode_region(png.tobytes(), 'frame.png', (50, 6, 70, 30))
  assert origin == (50, 6) and size == (60, 40)   # clipped to the frame
  np.testing.assert_array_equal(region, image[6:30, 50:60])
  region, origin, _ = frame_source.decode_region(png.tobytes(), 'frame.png', (80, 6, 90, 30))
  assert region.shape == (24, 0, 3) and origin == (60, 6)


def test_truncated_jpeg_is_refused_by_the_region_path():
  data = _encode(_photo(40, 60))
  with pytest.raises(BadInputError, match='frame.jpg: truncated JPEG'):
    frame_source.decode_region(data[:len(data) // 2], 'frame.jpg', (0, 0, 10, 10))


def test_source_region_covers_every_pixel_the_warp_reads():
  rng = np.random.default_rng(1)
  frame = rng.integers(1, 256, (240, 320, 3), dtype=np.uint8)
  for rotation in (0.0, 30.0, -71.0):
    aug = data_pipeline.augment.ClipAugmentation(
        center=np.array([70.0, 50.0], np.float32), scale=np.array([0.3, 0.4], np.float32),
        rotation=rotation, flip=bool(rotation < 0))
    matrix = ct.crop_matrix(aug, 320, (24, 32), 200.0)
    x0, y0, x1, y1 = ct.source_region(matrix, (24, 32), (320, 240))
    poisoned = np.zeros_like(frame)   # everything outside the region reads as 0
    poisoned[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    np.testing.assert_array_equal(ct.warp_frame(poisoned, matrix, (24, 32)),
                                  ct.warp_frame(frame, matrix, (24, 32)))
    assert (x1 - x0) * (y1 - y0) < 320 * 240 / 5
  outside = ct.crop_matrix(data_pipeline.augment.ClipAugmentation(
      center=np.array([900.0, 50.0], np.float32), scale=np.array([0.3, 0.4], np.float32),
      rotation=0.0, flip=False), 320, (24, 32), 200.0)
  assert ct.source_region(outside, (24, 32), (320, 240)) is None


@pytest.fixture(scope='module')
def photo_root(tmp_path_factory):
  root = tmp_path_factory.mktemp('posetrack')
  write_tiny_posetrack(root, videos=1, frames=5, size=(160, 120), layout='pt18', persons=2,
                       jpeg_quality=90)
  return root


@needs_decoder
def test_clips_are_bitwise_the_same_with_and_without_region_decoding(photo_root):
  settings = dict(image_size=(24, 32), heatmap_size=(6, 8), rotation_prob=1.0)
  regional = data_pipeline.build_dataset(tiny_config(photo_root, **settings), 'train')
  whole = data_pipeline.build_dataset(tiny_config(photo_root, region_decode=False, **settings),
                                      'train')
  for index in range(len(regional)):
    for epoch in range(3):
      a = regional.load(index, train=True, seed=5, epoch=epoch)
      b = whole.load(index, train=True, seed=5, epoch=epoch)
      for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=f'{name} {index} {epoch}')


def test_without_the_decoder_jpegs_are_decoded_whole_and_sliced(monkeypatch):
  monkeypatch.setattr(frame_source, '_jpeg_region', None)
  data = _JPEGS['420']()
  full = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  region, origin, size = frame_source.decode_region(data, 'frame.jpg', (100, 50, 300, 200))
  assert origin == (100, 50) and size == (640, 360)
  np.testing.assert_array_equal(region, full[50:200, 100:300])


@pytest.mark.parametrize('region_decode', [True, False])
def test_a_frame_of_another_size_than_annotated_is_named(photo_root, tmp_path, region_decode):
  dataset = data_pipeline.build_dataset(
      tiny_config(photo_root, image_size=(24, 32), heatmap_size=(6, 8),
                  region_decode=region_decode), 'val')
  name = dataset.samples[0].file_name
  small = tmp_path / 'small'
  small.mkdir()
  cv2.imwrite(str(small / 'frame.jpg'), _photo(60, 80))
  real_read_bytes = dataset.source.read_bytes
  smaller = (small / 'frame.jpg').read_bytes()
  dataset.source.read_bytes = lambda n: smaller if n == name else real_read_bytes(n)
  with pytest.raises(data_pipeline.dataset.SampleError,
                     match=f'{name}: frame is 80x60 pixels, the annotations say 160x120'):
    dataset.load(0, train=False)
