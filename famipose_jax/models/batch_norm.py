"""BatchNorm with PyTorch's running-statistics update.

PyTorch's BatchNorm2d normalises a training batch with the biased batch variance but folds the
UNBIASED variance (n / (n - 1) times larger, n = elements per channel) into `running_var`;
flax.linen.BatchNorm folds the biased one. Converted HRNet weights, the published frozen-backbone
quirk (running statistics keep moving during training) and continued training all depend on the
running statistics evolving exactly as in PyTorch, hence this module.

Variables mirror flax.linen.BatchNorm: params {scale, bias}, batch_stats {mean, var}.
`momentum` uses Flax's convention (PyTorch momentum 0.1 = 0.9 here):
  mean <- momentum * mean + (1 - momentum) * batch_mean
  var  <- momentum * var  + (1 - momentum) * batch_var * n / (n - 1)
Statistics are computed in float32 (float64 in a float64 run) whatever the compute dtype.
"""

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import initializers


class BatchNorm(nn.Module):
  """Batch normalisation over every axis but the last (channels), PyTorch semantics."""
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, use_running_average: bool) -> jax.Array:
    """x: [..., C] -> [..., C]; batch statistics (and their update) when not use_running_average."""
    channels = x.shape[-1]
    scale = self.param('scale', initializers.ones, (channels,), self.param_dtype)
    bias = self.param('bias', initializers.zeros, (channels,), self.param_dtype)
    # float32 (float64 in a float64 run, so that a train step keeps the state's dtypes).
    stats_dtype = jnp.promote_types(self.dtype, jnp.float32)
    running_mean = self.variable('batch_stats', 'mean', lambda: jnp.zeros((channels,), stats_dtype))
    running_var = self.variable('batch_stats', 'var', lambda: jnp.ones((channels,), stats_dtype))

    # At least float32 (bfloat16 inputs are normalised in float32); float64 in float64 runs.
    compute = jnp.promote_types(x.dtype, jnp.float32)
    x32 = x.astype(compute)
    if use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      count = math.prod(x.shape[:-1])
      if count < 2:
        # PyTorch refuses this too: the unbiased variance is undefined.
        raise ValueError(f'BatchNorm {self.name!r} in training mode needs more than one value per '
                         f'channel, got input shape {x.shape}')
      axes = tuple(range(x.ndim - 1))
      mean = jnp.mean(x32, axis=axes)
      var = jnp.mean(jnp.square(x32 - mean), axis=axes)   # biased: used to normalise
      if not self.is_initializing():
        unbiased_var = var * (count / (count - 1))
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * unbiased_var

    inv = scale.astype(compute) * jax.lax.rsqrt(var + self.epsilon)
    y = (x32 - mean) * inv + bias.astype(compute)
    return y.astype(self.dtype)
