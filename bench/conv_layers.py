"""Single convolutions of HRNet-W48 and the FAMI-Pose head: XLA's defaults, our options, PyTorch.

  python bench/conv_layers.py                 # forward, batch 5 (one clip's frames)
  python bench/conv_layers.py --backward      # forward + backward (input and kernel gradient)

For each layer shape: XLA:CPU with its default options (YNNPACK fusions), XLA with
`compiler_options.for_backend()` (the options our train, eval and predict steps compile with), and
PyTorch's `F.conv2d` on contiguous NCHW tensors; milliseconds, best of --rounds. This is the
table behind the choice in famipose_jax/runtime/compiler_options.py.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax
import jax.numpy as jnp

from famipose_jax.runtime import compiler_options
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order

# (height, width, in channels, out channels, kernel, stride, dilation) at batch B.
LAYERS = (
    (96, 72, 48, 48, 3, 1, 1),      # branch 0 BasicBlock
    (48, 36, 96, 96, 3, 1, 1),      # branch 1
    (24, 18, 192, 192, 3, 1, 1),    # branch 2
    (12, 9, 384, 384, 3, 1, 1),     # branch 3
    (96, 72, 256, 64, 1, 1, 1),     # layer1 Bottleneck conv1
    (96, 72, 64, 256, 1, 1, 1),     # layer1 Bottleneck conv3
    (96, 72, 48, 96, 3, 2, 1),      # stride-2 fuse/transition conv
    (192, 144, 64, 64, 3, 2, 1),    # stem conv2
    (96, 72, 48, 216, 3, 1, 3),     # DCN offset conv (dilation 3)
)


def _best_ms(call, rounds: int) -> float:
  call()
  times = []
  for _ in range(rounds):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return round(min(times) * 1e3, 2)


def main(argv=None) -> list:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=5)
  parser.add_argument('--backward', action='store_true', help='time forward + backward')
  harness.add_common_flags(parser)
  args = parser.parse_args(argv)
  torch = None
  if args.torch:
    torch, _ = harness.import_torch(args.threads)
  rng = np.random.default_rng(0)
  rows = []
  for height, width, cin, cout, k, stride, dilation in LAYERS:
    pad = dilation * (k // 2)
    x = rng.normal(size=(args.batch, height, width, cin)).astype(np.float32)
    w = (rng.normal(size=(k, k, cin, cout)) / np.sqrt(k * k * cin)).astype(np.float32)

    def conv(x, w):
      return jax.lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)),
                                          rhs_dilation=(dilation, dilation),
                                          dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

    fn = conv
    if args.backward:
      fn = jax.grad(lambda x, w: jnp.sum(conv(x, w)), (0, 1))
    row = {'layer': f'{height}x{width} {cin}->{cout} k{k} s{stride} d{dilation}'}
    xj, wj = jnp.asarray(x), jnp.asarray(w)
    for name, options in (('xla_default_ms', {}), ('ours_ms', compiler_options.for_backend())):
      compiled = jax.jit(fn).lower(xj, wj).compile(options)
      row[name] = _best_ms(lambda: jax.block_until_ready(compiled(xj, wj)), args.rounds)
    if torch is not None:
      tx = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().requires_grad_(args.backward)
      tw = torch.from_numpy(w).permute(3, 2, 0, 1).contiguous().requires_grad_(args.backward)

      def torch_call():
        if args.backward:
          torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad,
                                     dilation=dilation).sum().backward()
        else:
          with torch.inference_mode():
            torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad, dilation=dilation)

      row['torch_ms'] = _best_ms(torch_call, args.rounds)
    print(row, flush=True)
    rows.append(row)
  harness.report({'benchmark': 'conv_layers', 'batch': args.batch, 'backward': args.backward,
                  'machine': harness.machine(torch), 'layers': rows}, args.json)
  return rows


if __name__ == '__main__':
  main()
