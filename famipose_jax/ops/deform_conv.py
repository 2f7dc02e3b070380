"""Modulated deformable convolution (DCNv2), torchvision's `deform_conv2d` in NHWC.

For output pixel (ho, wo), kernel tap k = i * kw + j and offset group g, the tap reads input
channels [g * Cin/G, (g + 1) * Cin/G) at

  y = ho * stride_h - pad_h + i * dilation_h + offset[..., 2 * (g * kh * kw + k)]
  x = wo * stride_w - pad_w + j * dilation_w + offset[..., 2 * (g * kh * kw + k) + 1]

bilinearly and scales the value by mask[..., g * kh * kw + k], used raw (apply a sigmoid
outside for the DCNv2 paper's variant). torchvision returns 0 for a sample with y <= -1, y >= H,
x <= -1 or x >= W and otherwise lets out-of-image corners contribute 0; that is exactly bilinear
sampling with zero padding (outside those bounds all four corners are outside the image), which
is what `bilinear.corner_indices_and_weights` implements.

The computation is one im2col and one matrix product: four row gathers (one per corner) of
every (pixel, group, tap) sample, a weighted sum that folds the mask into the corner weights,
giving the columns [B, Ho, Wo, G*kh*kw*Cin/G] in the order of torchvision's offset channels
(so offsets and mask are never transposed), then columns @ the kernel reordered to match.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from famipose_jax.ops import bilinear


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
  if isinstance(value, int):
    return (value, value)
  pair = tuple(int(v) for v in value)
  if len(pair) != 2:
    raise ValueError(f'modulated_deform_conv: {name} must be an int or a pair of ints, '
                     f'got {value!r}')
  return pair


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
  """Convolution output length along one axis (as torch and lax compute it)."""
  return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def modulated_deform_conv(x: jax.Array, offset: jax.Array, mask: jax.Array | None,
                          kernel: jax.Array, bias: jax.Array | None = None, *,
                          stride: int | Sequence[int] = (1, 1),
                          padding: int | Sequence[int] = (0, 0),
                          dilation: int | Sequence[int] = (1, 1),
                          offset_groups: int = 1) -> jax.Array:
  """torchvision.ops.deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask).

  Args:
    x: [B, H, W, Cin].
    offset: [B, Ho, Wo, 2 * G * kh * kw], torchvision's channel layout (dy then dx per tap).
    mask: [B, Ho, Wo, G * kh * kw] modulation, used raw; None means all ones (DCNv1).
    kernel: [kh, kw, Cin, Cout] (one weight group; HWIO like lax/Flax convolutions).
    bias: [Cout] or None.
    stride, padding, dilation: ints or (h, w) pairs; padding is symmetric zero padding.
    offset_groups: G; Cin must be divisible by G.

  Returns:
    [B, Ho, Wo, Cout] in the promoted dtype of x and kernel.

  Memory (elements, with K = kh * kw, S = B * Ho * Wo): the columns buffer is S * K * Cin;
  the four corner gathers are 4 * S * K * Cin together (XLA fuses them into the weighted sum
  in the forward pass, but reverse mode keeps the gathered values, since they are the
  derivative of the output w.r.t. the sampling positions); corner indices and weights are
  4 * S * K * G each (int32 and float32). The backward pass scatter-adds into a buffer the
  size of x. Wrap the caller in `jax.checkpoint` to trade these residuals for recomputation.
  Measured (XLA:CPU `memory_analysis`, float32, jax 0.10.2, FAMI-Pose's DCN: one 96x72x48
  example, 3x3, dilation 3, G = 12): columns 11.4 MiB; forward temporaries 11.5 MiB (the
  columns only); forward + backward temporaries 105 MiB, about 9x the columns buffer.
  """
  if x.ndim != 4:
    raise ValueError(f'modulated_deform_conv: x must be [B, H, W, Cin], got shape {x.shape}')
  if kernel.ndim != 4:
    raise ValueError('modulated_deform_conv: kernel must be [kh, kw, Cin, Cout], got shape '
                     f'{kernel.shape}')
  b, h, w, cin = x.shape
  kh, kw, kcin, cout = kernel.shape
  if kcin != cin:
    raise ValueError(f'modulated_deform_conv: kernel input channels {kcin} != x channels {cin} '
                     f'(kernel {kernel.shape}, x {x.shape}); only one weight group is supported')
  groups = int(offset_groups)
  if groups < 1 or cin % groups:
    raise ValueError(f'modulated_deform_conv: x channels {cin} (x {x.shape}) not divisible by '
                     f'offset_groups={groups}')
  sh, sw = _pair(stride, 'stride')
  ph, pw = _pair(padding, 'padding')
  dh, dw = _pair(dilation, 'dilation')
  ho = output_size(h, kh, sh, ph, dh)
  wo = output_size(w, kw, sw, pw, dw)
  if ho < 1 or wo < 1:
    raise ValueError(f'modulated_deform_conv: empty output {(ho, wo)} for x {x.shape}, kernel '
                     f'{kernel.shape}, stride {(sh, sw)}, padding {(ph, pw)}, dilation {(dh, dw)}')
  taps = kh * kw
  expected = (b, ho, wo, 2 * groups * taps)
  if offset.shape != expected:
    raise ValueError(f'modulated_deform_conv: offset shape {offset.shape} != {expected} '
                     f'(= [B, Ho, Wo, 2*G*kh*kw] with G={groups}, kernel {kh}x{kw}, '
                     f'conv output {ho}x{wo} for x {x.shape})')
  if mask is not None and mask.shape != expected[:3] + (groups * taps,):
    raise ValueError(f'modulated_deform_conv: mask shape {mask.shape} != '
                     f'{expected[:3] + (groups * taps,)} (= [B, Ho, Wo, G*kh*kw] with '
                     f'G={groups}, kernel {kh}x{kw}, conv output {ho}x{wo} for x {x.shape})')
  if bias is not None and bias.shape != (cout,):
    raise ValueError(f'modulated_deform_conv: bias shape {bias.shape} != ({cout},)')

  dtype = bilinear.coordinate_dtype(offset.dtype)
  # Sampling positions [B, Ho, Wo, G, K] in torchvision's channel order (no transpose of the
  # offsets or the mask); the kernel is reordered to match the columns instead (it is small).
  offset = offset.astype(dtype).reshape(b, ho, wo, groups, taps, 2)
  tap_i, tap_j = jnp.divmod(jnp.arange(taps), kw)
  base_y = (jnp.arange(ho) * sh - ph)[:, None] + (tap_i * dh)[None, :]        # [Ho, K]
  base_x = (jnp.arange(wo) * sw - pw)[:, None] + (tap_j * dw)[None, :]        # [Wo, K]
  y = base_y[None, :, None, None, :].astype(dtype) + offset[..., 0]           # [B,Ho,Wo,G,K]
  xs = base_x[None, None, :, None, :].astype(dtype) + offset[..., 1]

  indices, weights = bilinear.corner_indices_and_weights(y, xs, h, w)        # 4 x [B,Ho,Wo,G,K]
  if mask is not None:
    mask = mask.astype(dtype).reshape(b, ho, wo, groups, taps)
    weights = [weight * mask for weight in weights]
  # Each (pixel, group) is one row of the table, so a gather row is that group's channels.
  table = x.reshape(b, h * w * groups, cin // groups)
  group = jnp.arange(groups, dtype=jnp.int32)[:, None]
  indices = [index * groups + group for index in indices]
  compute = jnp.result_type(x.dtype, kernel.dtype)
  columns = bilinear.blend_corners(table, indices, weights, compute)          # [...,Cin/G]
  columns = columns.reshape(b, ho, wo, taps * cin)                           # (g, k, c) order
  kernel = kernel.reshape(taps, groups, cin // groups, cout).transpose(1, 0, 2, 3)
  out = jnp.dot(columns, kernel.reshape(taps * cin, cout).astype(compute))
  if bias is not None:
    out = out + bias.astype(compute)
  return out
