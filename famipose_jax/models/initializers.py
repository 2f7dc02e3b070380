"""Parameter initialisers that reproduce the published PyTorch initialisation.

FAMI-Pose's `init_weights` draws every Conv2d weight from N(0, 0.001) and zeroes every bias;
Linear layers and the deformable convolutions keep PyTorch's default weight initialisation,
kaiming_uniform(a=sqrt(5)), which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
"""

import jax
from flax import linen as nn


def conv_kernel(std: float) -> jax.nn.initializers.Initializer:
  """N(0, std) for convolution kernels of any layout."""
  return nn.initializers.normal(stddev=std)


def torch_default_kernel() -> jax.nn.initializers.Initializer:
  """PyTorch's default Linear/Conv weight init: U(+-1/sqrt(fan_in)).

  fan_in is the product of every axis but the last (Dense [in, out]: in; conv [kh, kw, in, out]:
  kh*kw*in), which is how PyTorch counts it for [out, in, ...] weights. A uniform variance
  scaling with scale 1/3 has bound sqrt(3 * scale / fan_in) = 1/sqrt(fan_in).
  """
  return nn.initializers.variance_scaling(1.0 / 3.0, 'fan_in', 'uniform')


zeros = nn.initializers.zeros
ones = nn.initializers.ones
