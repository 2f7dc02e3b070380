"""Detection in worker processes: the same boxes as in-process, frames skipped on request, errors
named, and video sources copied to workers without their decoder."""

import os
import pickle

import cv2
import numpy as np
import pytest
import skimage.data

from data_pipeline.bad_input import BadInputError
from famipose_jax.inference import detection_jobs
from famipose_jax.inference import video_frames

NUM_FRAMES = 5


@pytest.fixture(scope='module')
def photo_video(tmp_path_factory):
  """The astronaut photograph panned 6 px a frame (the detector finds her helmet)."""
  picture = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
  wide = np.concatenate([picture, picture[:, ::-1]], axis=1)
  path = str(tmp_path_factory.mktemp('photo') / 'photo.mp4')
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25.0, (480, 400))
  for t in range(NUM_FRAMES):
    writer.write(np.ascontiguousarray(wide[50:450, 6 * t:6 * t + 480]))
  writer.release()
  return path


def test_detected_frames():
  assert detection_jobs.detected_frames(10, 1) == list(range(10))
  assert detection_jobs.detected_frames(10, 3) == [0, 3, 6, 9]
  assert detection_jobs.detected_frames(11, 3) == [0, 3, 6, 9, 10]
  assert detection_jobs.detected_frames(1, 4) == [0]
  with pytest.raises(ValueError, match='detection every 0 frames'):
    detection_jobs.detected_frames(10, 0)


def test_workers_find_the_same_boxes_as_the_caller(photo_video):
  with video_frames.open_frames(photo_video) as frames:
    alone = detection_jobs.DetectionJob(frames, workers=0).boxes()
    with detection_jobs.DetectionJob(frames, workers=2) as job:
      shared = job.boxes()
  assert shared == alone
  assert [len(b) for b in alone] == [2, 2, 0, 2, 1]      # on the helmet, when written


def test_every_kth_frame_and_the_last(photo_video):
  with video_frames.open_frames(photo_video) as frames:
    job = detection_jobs.DetectionJob(frames, workers=2, every=3)
    boxes = job.boxes()
    everything = detection_jobs.DetectionJob(frames, workers=0).boxes()
  assert job.numbers == [0, 3, 4]
  assert [boxes[t] for t in (0, 3, 4)] == [everything[t] for t in (0, 3, 4)]
  assert boxes[1] == boxes[2] == [] and len(everything[1]) == 2


def test_a_workers_error_names_the_frame(tmp_path, photo_video):
  folder = tmp_path / 'frames'
  folder.mkdir()
  with video_frames.open_frames(photo_video) as frames:
    for t in range(NUM_FRAMES):
      cv2.imwrite(str(folder / f'{t:06d}.png'), cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR))
  (folder / '000003.png').write_bytes(b'not a picture')
  frames = video_frames.open_frames(str(folder))
  job = detection_jobs.DetectionJob(frames, workers=2)
  processes = list(job._pool._processes.values())   # pylint: disable=protected-access
  with pytest.raises(BadInputError, match='000003.png: cannot be decoded'):
    job.boxes()
  assert len(processes) == 2 and not any(p.is_alive() for p in processes)   # all stopped
  with pytest.raises(ValueError, match='closed before it finished'):
    job.boxes()


def test_frames_in_memory_and_more_workers_than_detected_frames(photo_video):
  with video_frames.open_frames(photo_video) as frames:
    arrays = video_frames.ArrayFrames([frames[t] for t in range(NUM_FRAMES)])
    alone = detection_jobs.DetectionJob(frames, workers=0).boxes()
  job = detection_jobs.DetectionJob(arrays, workers=4, every=10)   # detects frames 0 and 4
  assert job.numbers == [0, NUM_FRAMES - 1] and job.in_workers
  assert len(job._futures) == 2        # pylint: disable=protected-access  # one per frame
  boxes = job.boxes()
  assert boxes[0] == alone[0] and boxes[-1] == alone[-1] and boxes[1:-1] == [[]] * 3
  assert job.boxes() is boxes                       # the result is kept, not detected again


def test_video_frames_travel_without_their_decoder(photo_video):
  frames = video_frames.open_frames(photo_video)
  first = frames[0].copy()
  copy = pickle.loads(pickle.dumps(frames))
  assert copy._capture is None and not copy._recent()   # pylint: disable=protected-access
  np.testing.assert_array_equal(copy[0], first)
  np.testing.assert_array_equal(copy[NUM_FRAMES - 1], frames[NUM_FRAMES - 1])
  assert (copy.size, copy.names, copy.fps) == (frames.size, frames.names, frames.fps)
  frames.close()
  copy.close()


def test_bad_settings():
  frames = video_frames.ArrayFrames([np.zeros((64, 64, 3), np.uint8)])
  with pytest.raises(ValueError, match='workers should be >= 0, got -1'):
    detection_jobs.DetectionJob(frames, workers=-1)
  assert detection_jobs.default_workers() == min(len(os.sched_getaffinity(0)), 8)
