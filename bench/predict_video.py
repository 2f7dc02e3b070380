"""`python -m famipose_jax.predict` end to end on a 1280x720 clip, against another checkout.

  git worktree add /tmp/base 2ba2d1e          # the code to compare against
  python bench/predict_video.py --baseline /tmp/base
  python bench/predict_video.py --baseline /tmp/base --frames 12 24 --rounds 3 --json /tmp/p.json
  python bench/predict_video.py --baseline /tmp/base --compile-cache warm   # a later run

The clip is scikit-image's astronaut photograph, enlarged to 1440x1440 and panned 3 pixels a
frame behind a 1280x720 window, written as mp4v. Both checkouts run the whole command in a fresh
process (`python -m famipose_jax.predict CLIP --checkpoint FIXTURE --out ...`, default settings:
the built-in detector, tracks, the overlay video), in turn (baseline, this checkout, baseline,
...) so that machine load hits both; the wall time counts everything a user waits for, the
interpreter's start and the imports included. This checkout's compiled network is not kept
between runs (a first run) unless --compile-cache warm fills a cache folder first (every later
run). Reported per clip length: each side's seconds (median and all), its summary line, and
baseline / this checkout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

import harness  # pylint: disable=g-bad-import-order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, 'tests', 'fixtures', 'synthetic_famipose')
SIZE = (1280, 720)


def write_clip(path: str, frames: int) -> None:
  """The panned photograph (see the module docstring) as an mp4v video."""
  from skimage import data as skimage_data  # pylint: disable=g-import-not-at-top
  picture = cv2.resize(cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR), (1440, 1440))
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 25.0, SIZE)
  for t in range(frames):
    writer.write(np.ascontiguousarray(picture[20:20 + SIZE[1], 3 * t:3 * t + SIZE[0]]))
  writer.release()


def run_predict(checkout: str, clip: str, out: str, extra: list[str]) -> tuple[float, str]:
  """(wall seconds, summary line) of the predict command of `checkout` in a fresh process."""
  command = [sys.executable, '-m', 'famipose_jax.predict', clip, '--checkpoint', FIXTURE,
             '--out', out] + extra
  # The checkout's own package: its folder first on the path (python -m puts the working
  # directory first).
  env = {k: v for k, v in os.environ.items() if not k.startswith('JAX_COMPILATION_CACHE')}
  env['PYTHONPATH'] = checkout
  start = time.perf_counter()
  done = subprocess.run(command, cwd=checkout, env=env, capture_output=True, text=True,
                        check=False)
  seconds = time.perf_counter() - start
  if done.returncode != 0:
    raise SystemExit(f'{checkout}: predict failed ({done.returncode}):\n{done.stderr[-3000:]}')
  return seconds, done.stdout.strip().splitlines()[-1]


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--baseline', required=True, help='the checkout to compare against')
  parser.add_argument('--frames', type=int, nargs='+', default=[12, 24])
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--extra', default='', help="more flags for this checkout's command, "
                      "e.g. '--detect-every 2'")
  parser.add_argument('--compile-cache', default='cold', choices=('cold', 'warm'),
                      help="this checkout's compiled network: 'cold' (no cache, as a first run; "
                      "the baseline has none either) or 'warm' (a cache folder filled by an "
                      'untimed run first, as every later run finds it)')
  parser.add_argument('--json', default='', help='write the result here too')
  args = parser.parse_args(argv)
  baseline = os.path.abspath(args.baseline)
  folder = tempfile.mkdtemp(prefix='predict_video_')
  cache = ['--compile-cache', os.path.join(folder, 'xla') if args.compile_cache == 'warm' else '']
  sides = {'baseline': (baseline, []), 'this_checkout': (ROOT, args.extra.split() + cache)}
  result = {'benchmark': 'predict_video', 'baseline': baseline, 'clip_wh': list(SIZE),
            'extra': args.extra, 'compile_cache': args.compile_cache, 'rounds': args.rounds,
            'load_before': os.getloadavg(), 'machine': harness.machine()}
  try:
    for frames in args.frames:
      clip = os.path.join(folder, f'clip{frames}.mp4')
      write_clip(clip, frames)
      if args.compile_cache == 'warm':
        run_predict(ROOT, clip, os.path.join(folder, f'fill_{frames}'), sides['this_checkout'][1])
      times = {name: [] for name in sides}
      lines = {}
      for r in range(args.rounds):
        for name, (checkout, extra) in sides.items():
          out = os.path.join(folder, f'{name}_{frames}_{r}')
          seconds, lines[name] = run_predict(checkout, clip, out, extra)
          times[name].append(seconds)
          print(f'{frames} frames, {name}: {seconds:.2f} s  ({lines[name][:150]})', flush=True)
      entry = {name: dict(harness.seconds(times[name]), summary=lines[name]) for name in sides}
      entry['ratio'] = entry['baseline']['median_s'] / entry['this_checkout']['median_s']
      result[f'frames_{frames}'] = entry
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  result['load_after'] = os.getloadavg()
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
