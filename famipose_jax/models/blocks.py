"""Convolution building blocks shared by HRNet and the FAMI-Pose additions.

Submodule names follow the PyTorch attribute names (conv1, bn1, downsample_0, layers_0, conv, bn)
so that state_dict keys map mechanically (see famipose.py for the rule).
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import batch_norm
from famipose_jax.models import initializers


@dataclasses.dataclass(frozen=True)
class LayerOptions:
  """What every conv/BN layer of the network shares: compute dtype, init and BN constants."""
  dtype: Any = jnp.float32
  conv_init_std: float = 0.001
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5

  def conv(self, features: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
           dilation: int = 1, use_bias: bool = False, name: str | None = None) -> nn.Conv:
    """A PyTorch-style Conv2d (explicit symmetric padding, N(0, std) weights, zero bias)."""
    return nn.Conv(
        features, (kernel_size, kernel_size), strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        kernel_dilation=(dilation, dilation), use_bias=use_bias,
        kernel_init=initializers.conv_kernel(self.conv_init_std), bias_init=initializers.zeros,
        dtype=self.dtype, param_dtype=jnp.float32, name=name)

  def batch_norm(self, name: str | None = None) -> batch_norm.BatchNorm:
    return batch_norm.BatchNorm(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                                dtype=self.dtype, name=name)


class ConvBNReLU(nn.Module):
  """conv -> optional BN -> optional ReLU (FAMI-Pose's conv_bn_relu; children `conv`, `bn`)."""
  features: int
  kernel_size: int
  opts: LayerOptions
  stride: int = 1
  padding: int = 0
  dilation: int = 1
  use_bias: bool = True
  use_bn: bool = True
  use_relu: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, H, W, Cin] -> [B, Ho, Wo, features]."""
    x = self.opts.conv(self.features, self.kernel_size, stride=self.stride, padding=self.padding,
                       dilation=self.dilation, use_bias=self.use_bias, name='conv')(x)
    if self.use_bn:
      x = self.opts.batch_norm(name='bn')(x, use_running_average=not train)
    if self.use_relu:
      x = nn.relu(x)
    return x


def materialize(x: jax.Array) -> jax.Array:
  """x, computed once and stored: for a residual-stream value that several consumers read.

  XLA duplicates cheap elementwise producers into every consumer fusion, so each BatchNorm +
  add + ReLU of a residual stream would be recomputed by each later block that reads it
  (HRNet-W48: fusions of up to 255 operands; docs/performance.md has the measurements). XLA
  never duplicates a remainder, and fmod(x, inf) is x for every finite x (zeros keep their
  sign; an infinity becomes NaN), so the value is computed once; its gradient is the identity.
  (A division by 1 or an optimization_barrier does not survive XLA's simplifier.)
  """
  return jax.lax.rem(x, jnp.full((), jnp.inf, x.dtype))


def _projection(opts: LayerOptions, x: jax.Array, features: int, train: bool) -> jax.Array:
  """The residual path's 1x1 conv + BN (PyTorch `downsample.0`, `downsample.1`)."""
  x = opts.conv(features, 1, name='downsample_0')(x)
  return opts.batch_norm(name='downsample_1')(x, use_running_average=not train)


class BasicBlock(nn.Module):
  """Two 3x3 convs with BN and a residual connection (ResNet/HRNet BasicBlock, stride 1)."""
  features: int
  opts: LayerOptions
  downsample: bool = False    # 1x1 conv + BN on the residual path

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, H, W, Cin] -> [B, H, W, features]."""
    if not self.downsample and x.shape[-1] != self.features:
      raise ValueError(f'BasicBlock {self.name!r}: {x.shape[-1]} input channels need a downsample '
                       f'to reach {self.features}')
    opts = self.opts
    y = opts.conv(self.features, 3, padding=1, name='conv1')(x)
    y = nn.relu(opts.batch_norm(name='bn1')(y, use_running_average=not train))
    y = opts.conv(self.features, 3, padding=1, name='conv2')(y)
    y = opts.batch_norm(name='bn2')(y, use_running_average=not train)
    residual = _projection(opts, x, self.features, train) if self.downsample else x
    return materialize(nn.relu(y + residual))


class Bottleneck(nn.Module):
  """1x1 -> 3x3 -> 1x1 (x4 expansion) residual block of HRNet's layer1."""
  planes: int
  opts: LayerOptions
  downsample: bool = False
  expansion: int = 4

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, H, W, Cin] -> [B, H, W, expansion * planes]."""
    out_features = self.planes * self.expansion
    if not self.downsample and x.shape[-1] != out_features:
      raise ValueError(f'Bottleneck {self.name!r}: {x.shape[-1]} input channels need a downsample '
                       f'to reach {out_features}')
    opts = self.opts
    y = opts.conv(self.planes, 1, name='conv1')(x)
    y = nn.relu(opts.batch_norm(name='bn1')(y, use_running_average=not train))
    y = opts.conv(self.planes, 3, padding=1, name='conv2')(y)
    y = nn.relu(opts.batch_norm(name='bn2')(y, use_running_average=not train))
    y = opts.conv(out_features, 1, name='conv3')(y)
    y = opts.batch_norm(name='bn3')(y, use_running_average=not train)
    residual = _projection(opts, x, out_features, train) if self.downsample else x
    return materialize(nn.relu(y + residual))


class ChainOfBasicBlocks(nn.Module):
  """`num_blocks` BasicBlocks to `features` channels; the first always has a downsample.

  FAMI-Pose's ChainOfBasicBlocks (children layers_0, layers_1, ...). The first block's 1x1
  projection exists even when the input already has `features` channels, as published.
  """
  features: int
  num_blocks: int
  opts: LayerOptions

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """x: [B, H, W, Cin] -> [B, H, W, features]."""
    if self.num_blocks < 1:
      raise ValueError(f'ChainOfBasicBlocks {self.name!r}: num_blocks must be >= 1, '
                       f'got {self.num_blocks}')
    for i in range(self.num_blocks):
      x = BasicBlock(self.features, self.opts, downsample=(i == 0), name=f'layers_{i}')(x, train)
    return x


def nearest_upsample(x: jax.Array, factor: int) -> jax.Array:
  """[B, H, W, C] -> [B, H*factor, W*factor, C], nearest neighbour (F.interpolate 'nearest')."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)
