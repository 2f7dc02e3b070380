"""Compile time, time per forward and peak memory of FAMI-Pose inference on this machine.

  python bench/forward_cpu.py                      # W48 384x288, B=1, key + 4 supporting frames
  python bench/forward_cpu.py --batch 2 --dtype bfloat16 --iters 5

Run it in a fresh process on a quiet machine (`uptime`): the peak resident memory is the
process's ru_maxrss, and wall-clock times stretch with whatever else runs. The weights are
random (timings and memory do not depend on their values, and a real `init` of W48 compiles
for minutes on CPU). Also reported: XLA's own memory analysis of the compiled forward and the
size of the deformable convolutions' sampling buffers (B * Ho * Wo * k^2 * C elements).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position

from configs import posetrack17  # pylint: disable=g-import-not-at-top,wrong-import-position
from famipose_jax import models  # pylint: disable=g-import-not-at-top,wrong-import-position

_MB = 1e6


def random_variables(shapes, seed: int = 0):
  """Variables of the given shapes: conv-init-like weights, unit BN statistics (host NumPy)."""
  rng = np.random.default_rng(seed)
  def fill(path, x):
    name = path[-1].key
    if name in ('scale', 'var'):
      return np.ones(x.shape, np.float32)
    if name in ('bias', 'mean'):
      return np.zeros(x.shape, np.float32)
    return rng.normal(0.0, 0.001, x.shape).astype(np.float32)
  return jax.tree_util.tree_map_with_path(fill, shapes)


def dcn_buffer_mb(config, batch: int, dtype_bytes: int = 4) -> dict[str, float]:
  """Sizes of one deformable conv's sampling buffers (see ops/deform_conv.py), in MB."""
  width, height = config.heatmap_size
  taps = config.dcn_kernel_size ** 2
  channels = config.backbone.stage4.num_channels[0]
  samples = batch * height * width * taps                     # B * Ho * Wo * k^2
  columns = samples * channels                                # B * Ho * Wo * k^2 * C
  return {
      'elements_B_Ho_Wo_k2_C': columns,
      'columns_mb': columns * dtype_bytes / _MB,
      'four_corner_gather_mb': 4 * columns * dtype_bytes / _MB,
      'corner_index_and_weight_mb': 2 * 4 * samples * config.dcn_offset_groups * 4 / _MB,
  }


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=1, help='clips per forward')
  parser.add_argument('--num_supporting', type=int, default=4, help='supporting frames N')
  parser.add_argument('--iters', type=int, default=3, help='timed forwards after one warm-up')
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'))
  args = parser.parse_args(argv)

  config = posetrack17.get_config().model
  config.dtype = args.dtype
  model = models.build_model(config)
  key, sup = models.example_inputs(config, args.batch, args.num_supporting)
  rng = np.random.default_rng(1)
  key = jnp.asarray(rng.normal(size=key.shape), jnp.float32)
  sup = jnp.asarray(rng.normal(size=sup.shape), jnp.float32)
  variables = jax.device_put(random_variables(jax.eval_shape(model.init, jax.random.key(0), key,
                                                             sup)))

  forward = jax.jit(lambda v, k, s: model.apply(v, k, s, train=False)['heatmaps'])
  start = time.perf_counter()
  lowered = forward.lower(variables, key, sup)
  lowered_at = time.perf_counter()
  compiled = lowered.compile()
  compiled_at = time.perf_counter()
  compiled(variables, key, sup).block_until_ready()           # warm-up
  times = []
  for _ in range(args.iters):
    t0 = time.perf_counter()
    compiled(variables, key, sup).block_until_ready()
    times.append(time.perf_counter() - t0)

  memory = compiled.memory_analysis()
  result = {
      'device': str(jax.devices()[0]), 'jax': jax.__version__,
      'config': f'HRNet-W{config.backbone.stage4.num_channels[0]} {tuple(config.image_size)} (W, H)',
      'batch': args.batch, 'num_supporting': args.num_supporting, 'dtype': args.dtype,
      'trace_and_lower_s': lowered_at - start,
      'compile_s': compiled_at - lowered_at,
      'forward_s_mean': float(np.mean(times)), 'forward_s_min': float(np.min(times)),
      'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / _MB,
      'xla_temp_mb': getattr(memory, 'temp_size_in_bytes', 0) / _MB,
      'xla_argument_mb': getattr(memory, 'argument_size_in_bytes', 0) / _MB,
      'dcn_buffers_per_layer': {f'B={b}': dcn_buffer_mb(config, b) for b in (args.batch, 48)},
      'load_average': os.getloadavg(),
  }
  print(json.dumps(result, indent=2))
  return result


if __name__ == '__main__':
  main()
