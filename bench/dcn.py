"""One modulated deformable convolution: ours against torchvision's `deform_conv2d`.

  python bench/dcn.py                  # FAMI-Pose's DCN: 48 channels, 96x72, 3x3, dilation 3,
                                       # 12 offset groups, B=2; forward and forward + backward
  python bench/dcn.py --batch 8 --json /tmp/dcn_b8.json

Offsets of a few pixels and masks in (0, 1), so that every tap samples inside and across the
image border. Forward + backward differentiates with respect to the input, offsets, mask,
weight and bias on both sides. Without torchvision the PyTorch side is the plain-PyTorch
reference kernel (`torch_reference.modulated_deform_conv2d`); the JSON says which ran.
`ratio_*` is PyTorch's seconds over ours (above 1: ours is faster).
"""

from __future__ import annotations

import argparse

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax
import jax.numpy as jnp

from famipose_jax.runtime import compiler_options
from famipose_jax.ops import deform_conv
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order


def random_inputs(batch, height, width, channels, kernel, groups, seed=0):
  """NHWC x, offset, mask, HWIO kernel, bias as float32 numpy arrays."""
  rng = np.random.default_rng(seed)
  taps = kernel * kernel
  return {
      'x': rng.normal(size=(batch, height, width, channels)).astype(np.float32),
      'offset': rng.normal(0.0, 3.0, (batch, height, width, 2 * groups * taps)).astype(np.float32),
      'mask': rng.random((batch, height, width, groups * taps)).astype(np.float32),
      'kernel': rng.normal(0.0, (taps * channels) ** -0.5,
                           (kernel, kernel, channels, channels)).astype(np.float32),
      'bias': np.zeros((channels,), np.float32),
  }


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=2)
  parser.add_argument('--size', type=int, nargs=2, default=(96, 72), metavar=('H', 'W'))
  parser.add_argument('--channels', type=int, default=48)
  parser.add_argument('--kernel', type=int, default=3)
  parser.add_argument('--dilation', type=int, default=3)
  parser.add_argument('--groups', type=int, default=12)
  harness.add_common_flags(parser)
  args = parser.parse_args(argv)
  if args.small:
    args.size, args.channels, args.groups = (32, 24), 8, 2

  padding = args.dilation * (args.kernel // 2)
  host = random_inputs(args.batch, *args.size, args.channels, args.kernel, args.groups)
  torch = torchvision = None
  if args.torch:
    torch, torchvision = harness.import_torch(args.threads)
    device = harness.torch_device(torch, args.torch_device)
  result = {'benchmark': 'dcn', 'batch': args.batch, 'size_hw': list(args.size),
            'channels': args.channels, 'kernel': args.kernel, 'dilation': args.dilation,
            'offset_groups': args.groups, 'threads': args.threads,
            'machine': harness.machine(torch, torchvision)}

  def ours(x, offset, mask, kernel, bias):
    return deform_conv.modulated_deform_conv(x, offset, mask, kernel, bias, padding=padding,
                                             dilation=args.dilation, offset_groups=args.groups)

  args_jax = tuple(jnp.asarray(host[k]) for k in ('x', 'offset', 'mask', 'kernel', 'bias'))
  cotangent = jnp.ones(ours(*args_jax).shape, jnp.float32)
  forward, result['jax_forward_compile'] = harness.compile_with_timing(
      compiler_options.jit(ours), *args_jax)
  backward = compiler_options.jit(lambda *a: jax.vjp(ours, *a)[1](cotangent))
  backward, result['jax_backward_compile'] = harness.compile_with_timing(backward, *args_jax)
  calls = {'jax_forward': lambda: forward(*args_jax).block_until_ready(),
           'jax_forward_backward': lambda: jax.block_until_ready(backward(*args_jax))}

  if args.torch:
    from famipose_jax.interop import torch_reference  # pylint: disable=g-import-not-at-top
    result['torch_device'] = str(device)
    nchw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().to(device)
    x, offset, mask = nchw(host['x']), nchw(host['offset']), nchw(host['mask'])
    weight = torch.from_numpy(host['kernel']).permute(3, 2, 0, 1).contiguous().to(device)
    bias = torch.from_numpy(host['bias']).to(device)
    if torchvision is not None:
      result['torch_dcn'] = 'torchvision'
      def kernel_fn(x, offset, mask, weight, bias):
        return torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=padding,
                                             dilation=args.dilation, mask=mask)
    else:
      result['torch_dcn'] = 'reference'
      def kernel_fn(x, offset, mask, weight, bias):
        return torch_reference.modulated_deform_conv2d(x, offset, mask, weight, bias,
                                                       padding=padding, dilation=args.dilation)
    leaves = [t.clone().requires_grad_(True) for t in (x, offset, mask, weight, bias)]

    def torch_forward():
      with torch.inference_mode():
        kernel_fn(x, offset, mask, weight, bias)

    def torch_forward_backward():
      for leaf in leaves:
        leaf.grad = None
      cotangent = torch.ones((), device=device).expand(args.batch, args.channels, *args.size)
      kernel_fn(*leaves).backward(cotangent)

    calls.update(torch_forward=harness.synchronized(torch, device, torch_forward),
                 torch_forward_backward=harness.synchronized(torch, device,
                                                             torch_forward_backward))
  times = harness.interleaved(calls, args.rounds)
  for name, values in times.items():
    result[name] = harness.seconds(values)
  if args.torch:
    for part in ('forward', 'forward_backward'):
      result[f'ratio_{part}'] = (result[f'torch_{part}']['median_s']
                                 / result[f'jax_{part}']['median_s'])
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
