"""Probing a frame (size from its header, completeness from its last bytes) agrees with decoding."""

import cv2
import numpy as np
import pytest

from data_pipeline.frame_source import FolderFrameSource, UnreadableFrame


def _jpeg(height, width, *params):
  image = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
  ok, encoded = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 90, *params])
  assert ok
  return encoded.tobytes()


def _with_big_app_segment(data):
  """An APP1 segment larger than the probe's tail read, before the frame header."""
  payload = b'Exif\x00\x00' + bytes(9000)
  return data[:2] + b'\xff\xe1' + (len(payload) + 2).to_bytes(2, 'big') + payload + data[2:]


@pytest.mark.parametrize('data, size', [
    (_jpeg(37, 53), (53, 37)),
    (_jpeg(40, 64, cv2.IMWRITE_JPEG_PROGRESSIVE, 1), (64, 40)),
    (_jpeg(40, 64) + bytes(5000), (64, 40)),          # zero padding after the end marker
    (_with_big_app_segment(_jpeg(30, 20)), (20, 30)),
], ids=['baseline', 'progressive', 'zero_padded', 'big_app_segment'])
def test_probe_gives_the_decoded_size(tmp_path, data, size):
  (tmp_path / 'f.jpg').write_bytes(data)
  decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  assert decoded.shape[1::-1] == size
  assert FolderFrameSource(str(tmp_path)).probe('f.jpg') == size


def test_probe_reads_other_formats_and_refuses_broken_headers(tmp_path):
  cv2.imwrite(str(tmp_path / 'f.png'), np.zeros((12, 34, 3), np.uint8))
  source = FolderFrameSource(str(tmp_path))
  assert source.probe('f.png') == (34, 12)
  (tmp_path / 'g.jpg').write_bytes(_jpeg(40, 64)[:20])
  with pytest.raises(UnreadableFrame, match=r'g\.jpg: JPEG header ends early'):
    source.probe('g.jpg')
  with pytest.raises(UnreadableFrame, match=r'h\.jpg: frame file not found'):
    source.probe('h.jpg')
