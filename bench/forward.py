"""Inference forward pass: ours against the published architecture in PyTorch, same process.

  python bench/forward.py                          # FAMI-Pose W48 384x288, B=1, key + 4 frames
  python bench/forward.py --part hrnet --batch 5   # the HRNet-W48 backbone alone, eval BatchNorm
  python bench/forward.py --small --json /tmp/forward_small.json
  python bench/forward.py --family dcpose          # DCPose W48: key, previous and next frame
  python bench/forward.py --family tdmi --no-torch # TDMI W48, 5 frames: ours only

Ours is the jitted `model.apply(..., train=False)`; PyTorch's is `model.eval()` under
`torch.inference_mode()`. Both return the final heatmaps. Calls alternate between the two;
`ratio` is PyTorch's seconds per forward over ours (above 1: ours is faster). Also reported:
trace, lower and compile time, XLA's memory analysis of the compiled forward, the process's
peak resident memory (ours alone with --no-torch), and the deformable convolutions' sampling
buffer sizes (B * Ho * Wo * k^2 * C elements each).
"""

from __future__ import annotations

import argparse

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax
import jax.numpy as jnp

from famipose_jax.runtime import compiler_options
from famipose_jax import models
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import inputs as model_inputs
from famipose_jax.models import registry
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

PARTS = ('network', 'hrnet')   # the family's whole network, or its HRNet backbone alone


def dcn_buffer_mb(model_config, batch: int, dtype_bytes: int = 4) -> dict[str, float]:
  """Sizes of one deformable conv's sampling buffers (see ops/deform_conv.py), in MB."""
  width, height = model_config.heatmap_size
  own = model_config.famipose
  samples = batch * height * width * own.dcn_kernel_size ** 2              # B * Ho * Wo * k^2
  columns = samples * model_config.backbone.stage4.num_channels[0]          # ... * C
  return {'elements_B_Ho_Wo_k2_C': columns,
          'columns_mb': columns * dtype_bytes / 1e6,
          'four_corner_gather_mb': 4 * columns * dtype_bytes / 1e6,
          'corner_index_and_weight_mb': 2 * 4 * samples * own.dcn_offset_groups * 4 / 1e6}


def random_frames(config, batch: int, num_supporting: int):
  """Normalised-looking float32 key [B, H, W, 3] and supporting [B, N, H, W, 3] (or None)."""
  rng = np.random.default_rng(1)
  width, height = config.image_size
  key = rng.normal(size=(batch, height, width, 3)).astype(np.float32)
  if not num_supporting:
    return key, None
  return key, rng.normal(size=(batch, num_supporting, height, width, 3)).astype(np.float32)


def forward_program(config, key: np.ndarray, support: np.ndarray | None):
  """(the jitted eval-mode forward to the heatmaps, its arguments: random variables, inputs)."""
  model = models.build_model(config)
  inputs = (jnp.asarray(key),) + (() if support is None else (jnp.asarray(support),))
  if registry.SUPPORTING_FRAME_OFFSETS in registry.get(config.family).inputs:   # DCPose's
    inputs += (jnp.asarray(np.broadcast_to([-1, 1], (key.shape[0], 2)), jnp.int32),)
  shapes = jax.eval_shape(model.init, jax.random.key(0), *inputs)
  variables = jax.device_put(harness.random_variables(shapes, 'he'))
  forward = compiler_options.jit(lambda v, *x: model.apply(v, *x, train=False)['heatmaps'])
  return forward, (variables,) + inputs


def jax_side(config, key: np.ndarray, support: np.ndarray | None):
  """(a call that runs one jitted forward, its compile timing and XLA memory); call.compiled."""
  forward, args = forward_program(config, key, support)
  compiled, info = harness.compile_with_timing(forward, *args)
  info.update(harness.xla_memory_mb(compiled))

  def call():
    compiled(*args).block_until_ready()

  call.compiled = compiled   # for bench/profile_step.py
  return call, info


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=1,
                      help='clips per forward (--part hrnet: frames per forward)')
  parser.add_argument('--part', default='network', choices=PARTS,
                      help='the whole network, or its HRNet backbone on single frames')
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                      help='our compute dtype (PyTorch stays float32)')
  harness.add_common_flags(parser)
  args = parser.parse_args(argv)

  harness.check_torch_side(args)
  experiment_config = harness.experiment_config(args.small, args.family)
  config = experiment_config.model
  config.dtype = args.dtype
  if args.part == 'hrnet':
    config = config_defaults.with_family(config, 'single_frame')
    experiment_config = config_defaults.with_family(experiment_config, 'single_frame')
  temporal = config.family != 'single_frame'
  num_supporting = len(model_inputs.clip_of(experiment_config).offsets)
  key, support = random_frames(config, args.batch, num_supporting)

  torch = torchvision = None
  if args.torch:
    torch, torchvision = harness.import_torch(args.threads)
    device = harness.torch_device(torch, args.torch_device)
  result = {'benchmark': 'forward', 'family': args.family, 'part': args.part, 'batch': args.batch,
            'threads': args.threads, 'small': args.small, 'dtype': args.dtype,
            'num_supporting': num_supporting, 'image_size_wh': list(config.image_size),
            'backbone_width': config.backbone.stage4.num_channels[0],
            'machine': harness.machine(torch, torchvision)}

  jax_call, result['jax_compile'] = jax_side(config, key, support)
  calls = {'jax': jax_call}
  if args.torch:
    reference, result['torch_dcn'] = harness.torch_model(config, max(num_supporting, 1),
                                                         torchvision, 'he')
    reference.eval().to(device)
    result['torch_device'] = str(device)
    torch_key = torch.from_numpy(key).permute(0, 3, 1, 2).contiguous().to(device)
    torch_support = (None if support is None
                     else torch.from_numpy(support).permute(0, 1, 4, 2, 3).contiguous().to(device))

    def torch_call():
      with torch.inference_mode():
        if temporal:
          harness.torch_forward(reference, config, torch_key, torch_support)
        else:
          reference(torch_key, None)

    calls['torch'] = harness.synchronized(torch, device, torch_call)
  times = harness.interleaved(calls, args.rounds)
  for name, values in times.items():
    result[name] = harness.seconds(values)
    result[f'{name}_s_per_forward'] = result[name]['median_s']
  if args.torch:
    result['ratio'] = result['torch_s_per_forward'] / result['jax_s_per_forward']
  result['peak_rss_mb'] = harness.peak_rss_mb()
  if config.family == 'famipose' and config.famipose.local_calibration:
    result['dcn_buffers_per_layer'] = {f'B={b}': dcn_buffer_mb(config, b)
                                       for b in sorted({args.batch, 48})}
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
