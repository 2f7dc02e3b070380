"""The predictor's network time on a video: plain `jax.jit` against the project's compiler options.

  python bench/predict_network.py                                  # the test fixture model
  python bench/predict_network.py --config configs/synthetic.py    # the demo's network, random
  python bench/predict_network.py --config configs/posetrack17.py:local --json /tmp/p.json

`Predictor.predict` on a video of moving photographs (frames x persons boxes), its jitted
network compiled two ways: `jax.jit` as the predictor did before the model-family work, and
`Experiment.jit_predict()` (runtime/compiler_options.py: on XLA:CPU, YNNPACK fusions for
reductions only). The calls alternate (a, b, a, b, ...) so machine load hits both; reported are each
variant's seconds per video (cropping included, as `python -m famipose_jax.predict` counts its
"poses" time) and per network batch alone, and the ratio before / after.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax

from famipose_jax import experiment as experiment_lib
from famipose_jax.checkpoints import trained_model
from famipose_jax.config import loader as config_loader
from famipose_jax.inference import predictor as predictor_lib
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests',
                       'fixtures', 'synthetic_famipose')


def video(frames: int, persons: int, size=(480, 270), seed: int = 0):
  """(frames of a photograph panned left by 3 px a frame, per frame `persons` boxes)."""
  from skimage import data as skimage_data  # pylint: disable=g-import-not-at-top
  width, height = size
  photo = np.tile(skimage_data.astronaut(), (1, 2, 1))            # 512 x 1024 RGB
  images = [np.ascontiguousarray(photo[:height, 3 * t:3 * t + width]) for t in range(frames)]
  rng = np.random.default_rng(seed)
  boxes = [[[float(rng.uniform(0, width / 2)), float(rng.uniform(0, height / 3)),
             width / 3, height / 2] for _ in range(persons)] for _ in range(frames)]
  return images, boxes


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--checkpoint', default=FIXTURE,
                      help='a trained model (default: the test fixture)')
  parser.add_argument('--config', default=None,
                      help='FILE[:variant]: time this config\'s network with random weights '
                      'instead of --checkpoint')
  parser.add_argument('--frames', type=int, default=12)
  parser.add_argument('--persons', type=int, default=4)
  parser.add_argument('--batch', type=int, default=16, help='persons per network call')
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--json', default='', help='write the result here too')
  args = parser.parse_args(argv)

  if args.config:
    config = config_loader.load_config_file(args.config)
    experiment = experiment_lib.Experiment(config)
    shapes = jax.eval_shape(lambda rng: experiment.model.init(rng, *experiment.example_inputs(),
                                                               train=False), jax.random.key(0))
    variables, source = harness.random_variables(shapes, 'he'), args.config
  else:
    model = trained_model.load_trained_model(args.checkpoint)
    config, variables, source = model.config, model.variables, model.source
  predictor = predictor_lib.Predictor(config, variables, batch_size=args.batch)
  jitted = {'before_jax_jit': jax.jit(predictor.experiment.predict_fn()),
            'after_compiler_options': predictor.experiment.jit_predict()}
  frames, boxes = video(args.frames, args.persons)
  batch = predictor.experiment.empty_batch(args.batch)
  for name, array in batch.items():
    array[...] = np.random.default_rng(1).integers(0, 256, array.shape).astype(array.dtype)

  def run_video(fn):
    def call():
      predictor._predict = fn   # pylint: disable=protected-access
      predictor.predict(frames, boxes)
    return call

  def run_network(fn):
    variables = predictor._variables   # pylint: disable=protected-access
    return lambda: jax.block_until_ready(fn(variables, batch))

  videos = harness.interleaved({n: run_video(f) for n, f in jitted.items()}, args.rounds)
  networks = harness.interleaved({n: run_network(f) for n, f in jitted.items()}, args.rounds)
  result = {'benchmark': 'predict_network', 'source': source, 'family': config.model.family,
            'image_size_wh': list(config.model.image_size), 'frames': args.frames,
            'persons_per_frame': args.persons, 'batch': args.batch,
            'machine': harness.machine()}
  for name in jitted:
    result[f'{name}_video'] = harness.seconds(videos[name])
    result[f'{name}_batch'] = harness.seconds(networks[name])
  for what in ('video', 'batch'):
    result[f'ratio_{what}'] = (result[f'before_jax_jit_{what}']['median_s']
                               / result[f'after_compiler_options_{what}']['median_s'])
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
