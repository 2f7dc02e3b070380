"""Reading a video's frames (folder, file, arrays) and writing overlays all or nothing."""

import os

import cv2
import numpy as np
import pytest

from data_pipeline.bad_input import BadInputError
from famipose_jax.inference import overlay
from famipose_jax.inference import posetrack_output
from famipose_jax.inference import predictor as predictor_lib
from famipose_jax.inference import video_frames
from data_pipeline import posetrack_video as ptv


def _frame(i: int, width: int = 64, height: int = 48) -> np.ndarray:
  """An RGB frame whose pixels encode its number (survives lossy video coding roughly)."""
  frame = np.zeros((height, width, 3), np.uint8)
  frame[..., 0] = 10 * i
  frame[..., 2] = 255 - 10 * i
  return frame


def _write_video(path: str, count: int, size=(64, 48), fps: float = 10.0):
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
  for i in range(count):
    writer.write(cv2.cvtColor(_frame(i, *size), cv2.COLOR_RGB2BGR))
  writer.release()


def test_a_folder_is_read_in_the_order_of_the_numbers_in_the_names(tmp_path):
  folder = tmp_path / 'clip'
  folder.mkdir()
  for i in (0, 2, 10, 1):
    cv2.imwrite(str(folder / f'frame_{i}.png'), cv2.cvtColor(_frame(i), cv2.COLOR_RGB2BGR))
  (folder / 'notes.txt').write_text('not a frame')
  frames = video_frames.open_frames(str(folder))
  assert frames.names == ['clip/frame_0.png', 'clip/frame_1.png', 'clip/frame_2.png',
                          'clip/frame_10.png']
  assert (len(frames), frames.size, frames.name) == (4, (64, 48), 'clip')
  assert [int(frames[t][0, 0, 0]) for t in range(4)] == [0, 10, 20, 100]   # RGB, in order


def test_a_folder_with_a_bad_frame_names_it(tmp_path):
  folder = tmp_path / 'clip'
  folder.mkdir()
  cv2.imwrite(str(folder / '000000.png'), _frame(0))
  cv2.imwrite(str(folder / '000001.png'), _frame(1, width=80))
  (folder / '000002.jpg').write_bytes(b'not a jpeg')
  frames = video_frames.open_frames(str(folder))
  with pytest.raises(BadInputError, match=r'000001.png: frame is 80x48 pixels, the video\'s '
                                          r'first frame 64x48'):
    frames[1]
  with pytest.raises(BadInputError, match='000002.jpg: cannot be decoded as an image'):
    frames[2]
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(BadInputError, match='empty: no frame images'):
    video_frames.open_frames(str(empty))
  with pytest.raises(FileNotFoundError, match='no such video file or frame folder'):
    video_frames.open_frames(str(tmp_path / 'missing.mp4'))


def test_a_video_file_is_counted_by_decoding_and_read_in_any_order(tmp_path):
  path = str(tmp_path / 'clip.mp4')
  _write_video(path, 12)
  frames = video_frames.open_frames(path, window=3)
  assert (len(frames), frames.size, frames.fps, frames.name) == (12, (64, 48), 10.0, 'clip')
  forward = [frames[t].copy() for t in range(12)]
  assert [int(round(f[..., 0].mean() / 10)) for f in forward] == list(range(12))
  for t in (11, 2, 7, 0, 9):   # backwards beyond the window restarts the decoder
    np.testing.assert_array_equal(frames[t], forward[t])
  assert frames.names[3] == 'clip/000003.jpg'


def test_an_unreadable_or_empty_video_is_named(tmp_path):
  junk = tmp_path / 'junk.mp4'
  junk.write_bytes(b'\x00' * 1000)
  with pytest.raises(BadInputError, match='junk.mp4: '):
    video_frames.open_frames(str(junk))
  empty = tmp_path / 'empty.mp4'
  empty.write_bytes(b'')
  with pytest.raises(BadInputError, match='empty.mp4: '):
    video_frames.open_frames(str(empty))
  whole = tmp_path / 'whole.mp4'
  _write_video(str(whole), 12)
  cut = tmp_path / 'cut.mp4'
  cut.write_bytes(whole.read_bytes()[:whole.stat().st_size * 6 // 10])
  with pytest.raises(BadInputError, match='cut.mp4: not a video OpenCV can open'):
    video_frames.open_frames(str(cut))


def test_arrays_must_be_uint8_rgb_of_one_size():
  with pytest.raises(ValueError, match=r'frame 1: frames must be \[H, W, 3\] uint8'):
    video_frames.ArrayFrames([_frame(0), _frame(1).astype(np.float32)])
  with pytest.raises(BadInputError, match='frame 1: frame is 80x48 pixels'):
    video_frames.ArrayFrames([_frame(0), _frame(1, width=80)])


def _pose(track_id, score=0.9):
  keypoints = np.zeros((17, 3))
  keypoints[:, 0] = np.linspace(10, 50, 17)
  keypoints[:, 1] = np.linspace(5, 40, 17)
  keypoints[:, 2] = score
  return predictor_lib.PersonPose(keypoints=keypoints, box=np.array([8.0, 4.0, 45.0, 38.0]),
                                  box_score=1.0, track_id=track_id)


def test_the_overlay_video_appears_only_when_complete(tmp_path):
  path = str(tmp_path / 'out' / 'clip_overlay.mp4')
  with overlay.OverlayVideo(path, 10.0, (64, 48)) as video:
    for i in range(5):
      video.write(overlay.draw_poses(_frame(i), [_pose(3)]))
    assert not os.path.exists(path)                # hidden until the end
  capture = cv2.VideoCapture(path)
  count = 0
  while capture.read()[0]:
    count += 1
  size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
  assert (count, size) == (5, (64, 48))
  failed = str(tmp_path / 'out' / 'failed.mp4')
  with pytest.raises(RuntimeError):
    with overlay.OverlayVideo(failed, 10.0, (64, 48)) as video:
      video.write(_frame(0))
      raise RuntimeError('interrupted')
  assert sorted(os.listdir(tmp_path / 'out')) == ['clip_overlay.mp4']   # no temporary left


def test_odd_frame_sizes_get_an_even_video_with_the_frame_in_its_corner(tmp_path):
  path = str(tmp_path / 'odd.mp4')
  frame = np.full((47, 65, 3), 200, np.uint8)
  with overlay.OverlayVideo(path, 10.0, (65, 47)) as video:
    for _ in range(3):
      video.write(frame)
  capture = cv2.VideoCapture(path)
  decoded = []
  while True:
    ok, image = capture.read()
    if not ok:
      break
    decoded.append(image)
  assert [d.shape for d in decoded] == [(48, 66, 3)] * 3
  assert abs(float(decoded[0][:40, :60].mean()) - 200) < 3     # the frame, top left
  assert float(decoded[0][47:, :].mean()) < 60                  # the added row, black
  with pytest.raises(ValueError, match=r'frame 3 is 66x48, the video\'s 65x47'):
    with overlay.OverlayVideo(path + '.2.mp4', 10.0, (65, 47)) as video:
      video.write(frame)
      video.write(frame)
      video.write(frame)
      video.write(np.zeros((48, 66, 3), np.uint8))


def test_drawing_colours_joints_by_confidence_and_boxes_by_track():
  assert overlay.confidence_colour(0.0) == (0, 0, 255)       # BGR red
  assert overlay.confidence_colour(0.5) == (0, 255, 255)     # yellow
  assert overlay.confidence_colour(1.0) == (0, 255, 0)       # green
  assert overlay.track_colour(None) == (255, 255, 255)
  assert overlay.track_colour(1) != overlay.track_colour(2)
  blank = np.zeros((48, 64, 3), np.uint8)
  low = overlay.draw_poses(blank, [_pose(None, score=0.1)], min_score=0.2)
  high = overlay.draw_poses(blank, [_pose(None, score=0.9)], min_score=0.2)
  assert not blank.any()                                     # drawn on a copy
  box_only = np.count_nonzero(low.any(axis=2))
  assert np.count_nonzero(high.any(axis=2)) > box_only > 0   # low joints are not drawn
  # The network's confidence decides, not the score the box's score has weighed down.
  weighed = _pose(None, score=0.1)
  weighed.confidence = np.full(17, 0.9)
  np.testing.assert_array_equal(overlay.draw_poses(blank, [weighed], min_score=0.2), high)


def test_the_posetrack_file_lists_every_frame_and_reads_back(tmp_path):
  poses = [[_pose(0), _pose(4)], [], [_pose(4)]]
  names = ['clip/000000.jpg', 'clip/000001.jpg', 'clip/000002.jpg']
  path = str(tmp_path / 'clip.json')
  posetrack_output.write_poses(path, 'clip', names, poses)
  video = ptv.read_video(path, ptv.PREDICTIONS)
  assert [f.file_name for f in video.frames] == names
  assert [[p.track_id for p in f.persons] for f in video.frames] == [[0, 4], [], [4]]
  np.testing.assert_allclose(video.frames[2].persons[0].keypoints, poses[2][0].keypoints)
  np.testing.assert_allclose(video.frames[0].persons[1].bbox, [8, 4, 45, 38])
