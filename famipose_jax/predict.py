"""Poses on your own video: person boxes, tracks, FAMI-Pose, a PoseTrack file and an overlay.

  python -m famipose_jax.predict VIDEO_OR_FRAME_FOLDER --checkpoint DIR --out OUT_DIR
      [--boxes detect | full-frame | BOXES.json] [--save-frames] [--no-video]
      [--flip-test | --no-flip-test] [--batch-size 16] [--config CONFIG.py]
      [--detect-workers N] [--detect-every K] [--compile-cache DIR]

--checkpoint is a training workdir, one of its checkpoints/<step> folders, or a model folder
(python -m famipose_jax.convert writes one from a PyTorch checkpoint). Person boxes come from
--boxes: a box file (the PoseTrack detection JSON or the per-frame JSON described in
famipose_jax/inference/person_boxes.py), 'full-frame' (one person filling each frame), or by
default the built-in offline person detector, which runs in worker processes while the model
loads (--detect-workers, default one per core up to 8; --detect-every K detects every K-th
frame only, at a cost in recall: docs/own_video.md). Boxes without track ids are linked into
tracks (IoU, optimal assignment) and smoothed. OUT_DIR receives NAME.json (PoseTrack 2018
predictions with track ids; `python -m famipose_jax.evaluation` reads it), NAME_overlay.mp4
(skeletons coloured by joint confidence, boxes and ids coloured by track) and with --save-frames
NAME_frames/*.png. Outputs appear only once complete; existing ones are never overwritten.
The compiled network is kept in --compile-cache (famipose_jax/runtime/compile_cache.py), so a
later run with the same network starts sooner.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time

import cv2

from famipose_jax import errors
from famipose_jax.config import loader as config_loader
from famipose_jax.runtime import compile_cache
from famipose_jax.runtime import progress
from famipose_jax.inference import box_tracker
from famipose_jax.inference import detection_jobs
from famipose_jax.inference import overlay
from famipose_jax.inference import person_boxes
from famipose_jax.inference import person_detector
from famipose_jax.inference import person_tracks
from famipose_jax.inference import posetrack_output
from famipose_jax.inference import video_frames

DETECT = 'detect'
FULL_FRAME = 'full-frame'


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m famipose_jax.predict', description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split('\n\n', 2)[2])
  parser.add_argument('input', metavar='VIDEO_OR_FRAME_FOLDER')
  parser.add_argument('--checkpoint', required=True,
                      help='training workdir, checkpoints/<step> folder or model folder')
  parser.add_argument('--out', required=True, metavar='OUT_DIR', help='output folder')
  parser.add_argument('--boxes', default=DETECT,
                      help=f"'{DETECT}' (default), '{FULL_FRAME}', or a box JSON file")
  parser.add_argument('--config', default=None,
                      help='config file, for a model folder that records none')
  parser.add_argument('--batch-size', type=int, default=16, help='persons per network call')
  parser.add_argument('--compile-cache', default=compile_cache.default_folder(), metavar='DIR',
                      help='keep the compiled network here for later runs (default: %(default)s; '
                           "'': none; JAX_COMPILATION_CACHE_DIR, when set, is used instead)")
  flip = parser.add_mutually_exclusive_group()
  flip.add_argument('--flip-test', dest='flip_test', action='store_true', default=None,
                    help='average with the mirrored input (default: as the config says)')
  flip.add_argument('--no-flip-test', dest='flip_test', action='store_false')
  parser.add_argument('--save-frames', action='store_true', help='also write per-frame PNGs')
  parser.add_argument('--no-video', action='store_true', help='skip the overlay video')
  parser.add_argument('--min-joint-score', type=float, default=0.2,
                      help='joints scoring below it are not drawn (default 0.2)')
  parser.add_argument('--detector-threshold', type=float, default=None,
                      help='least detector score of a kept box (default: the detector\'s)')
  parser.add_argument('--detect-workers', type=int, default=None,
                      help='detector processes, running while the model loads (default: one '
                           'per CPU core, at most 8; 0: detect in this process, after loading)')
  parser.add_argument('--detect-every', type=int, default=1, metavar='K',
                      help='detect in every K-th frame (and the last); tracks are carried '
                           'across the frames between (default 1: every frame)')
  parser.add_argument('--track-iou', type=float, default=0.3,
                      help='least IoU for a box to continue a track (default 0.3)')
  parser.add_argument('--track-max-missed', type=int, default=5,
                      help='frames a track may go undetected and continue (default 5)')
  parser.add_argument('--smooth-window', type=int, default=None,
                      help='centred moving average over each track\'s boxes (odd; 1: off; '
                           'default 5 for detected boxes, 1 for given ones)')
  parser.add_argument('--min-track-length', type=int, default=1,
                      help='drop tracks with fewer boxes (default 1: keep all)')
  return parser


def output_paths(out_dir: str, name: str) -> dict[str, str]:
  """Where each output of video `name` goes."""
  return {'json': os.path.join(out_dir, f'{name}.json'),
          'video': os.path.join(out_dir, f'{name}_overlay.mp4'),
          'frames': os.path.join(out_dir, f'{name}_frames')}


def _tracking(args) -> dict:
  """The tracker settings of the command line (`box_tracker.link_tracks`'s arguments)."""
  given = args.boxes != DETECT
  return dict(min_iou=args.track_iou, max_missed=args.track_max_missed,
              min_track_length=args.min_track_length,
              smooth_window=(1 if given else 5) if args.smooth_window is None
              else args.smooth_window)


def start_detection(frames: video_frames.Frames, args) -> detection_jobs.DetectionJob | None:
  """The detection --boxes detect asks for, started in worker processes (None: other boxes)."""
  if args.boxes != DETECT:
    return None
  options = {} if args.detector_threshold is None else {
      'score_threshold': args.detector_threshold}
  return detection_jobs.DetectionJob(frames, person_detector.PersonDetector(**options),
                                     workers=args.detect_workers, every=args.detect_every)


def person_boxes_for(frames: video_frames.Frames, args,
                     detection: detection_jobs.DetectionJob | None
                     ) -> list[list[person_boxes.PersonBox]]:
  """Per frame, the person boxes --boxes asks for (`detection`'s for detect), linked into
  tracks."""
  if detection is not None:
    return person_tracks.tracks_of(detection, show_progress=None, **_tracking(args))
  if args.boxes == FULL_FRAME:   # one track, id 0
    boxes = person_boxes.full_frame_boxes(len(frames), *frames.size)
  else:
    boxes = person_boxes.read_box_file(
        args.boxes, len(frames),
        frame_names=[os.path.basename(n) for n in frames.names]
        if isinstance(frames, video_frames.FolderFrames) else None,
        image_size=frames.size)
  return box_tracker.link_tracks(boxes, **_tracking(args))


def write_overlays(frames: video_frames.Frames, poses, paths: dict[str, str], args) -> list:
  """Draws every frame into the overlay video and/or PNG folder.

  Returns the outputs still hidden: each appears at its path on `close()`, or is removed by
  `discard()`.
  """
  outputs = []
  try:
    if not args.no_video:
      outputs.append(overlay.OverlayVideo(paths['video'], frames.fps, frames.size))
    if args.save_frames:
      outputs.append(overlay.FrameImages(paths['frames']))
    bar = progress.ProgressBar(len(frames), 'overlay', enabled=None)
    for t, frame in enumerate(frames):
      drawn = overlay.draw_poses(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), poses[t],
                                 min_score=args.min_joint_score)
      for output in outputs:
        output.write(drawn)
      bar.update(t + 1)
    bar.close()
  except BaseException:
    for output in outputs:
      output.discard()
    raise
  return outputs


def run(args) -> str:
  """Predicts and writes the outputs; returns the summary line."""
  start = time.time()
  # Everything cheap to check comes before the model loads and the detector runs.
  box_tracker.check_link_settings(**_tracking(args))
  if args.detect_every < 1 or (args.detect_workers is not None and args.detect_workers < 0):
    raise errors.InvalidInputError(
        f'--detect-every should be >= 1 and --detect-workers >= 0, got {args.detect_every} and '
        f'{args.detect_workers}')
  if args.boxes != DETECT and (args.detect_every != 1 or args.detect_workers is not None):
    raise errors.InvalidInputError(
        f'--detect-every and --detect-workers set how the built-in detector runs; --boxes '
        f'{args.boxes} uses none')
  config = config_loader.load_config_file(args.config) if args.config else None
  with video_frames.open_frames(args.input) as frames:
    paths = output_paths(args.out, frames.name)
    wanted = ['json'] + ([] if args.no_video else ['video']) + (['frames'] if args.save_frames
                                                                 else [])
    existing = [paths[k] for k in wanted if os.path.exists(paths[k])]
    if existing:
      raise errors.RefusedOverwriteError(
          f'{", ".join(existing)} exist(s): refusing to overwrite; choose '
          'another --out')
    # The detector's workers run while this process loads and compiles the network.
    detection = start_detection(frames, args)
    with detection or contextlib.nullcontext():
      # JAX is imported here, not with this module: detection workers are spawned processes
      # that import this module again (as Python's multiprocessing does with `python -m`), and
      # need none of it.
      # pylint: disable-next=g-import-not-at-top
      from famipose_jax.inference import predictor as predictor_lib
      compile_cache.use(args.compile_cache)
      predictor = predictor_lib.Predictor.from_checkpoint(
          args.checkpoint, config, batch_size=args.batch_size, flip_test=args.flip_test)
      predictor.warm_up()
      loaded = time.time()
      boxes = person_boxes_for(frames, args, detection)
    boxed = time.time()
    poses = predictor.predict(frames, boxes, show_progress=None)
    predicted = time.time()
    hidden = write_overlays(frames, poses, paths, args)
  try:
    posetrack_output.write_poses(paths['json'], frames.name, frames.names, poses)
    for output in hidden:   # the JSON is in place: now the overlays appear too
      output.close()
  except BaseException:
    for output in hidden:
      output.discard()
    raise
  persons = sum(len(p) for p in poses)
  tracks = len({p.track_id for frame in poses for p in frame})
  seconds = time.time() - start
  return (f'{len(frames)} frames, {persons} persons in {tracks} tracks: '
          f'{len(frames) / max(seconds, 1e-9):.1f} frames/s end to end ({loaded - start:.1f} s '
          f'opening the input and loading and compiling the model, '
          f'{"detecting meanwhile; " if detection is not None and detection.in_workers else ""}'
          f'{boxed - loaded:.1f} s more until boxes and tracks, {predicted - boxed:.1f} s poses, '
          f'{time.time() - predicted:.1f} s writing); wrote ' + ', '.join(paths[k] for k in wanted))


@errors.command
def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.WARNING, format='%(message)s')
  print(run(args))
  return 0


if __name__ == '__main__':
  sys.exit(main())
