"""RSN's residual-steps block (Cai et al., ECCV 2020), as DCPose's code chains it.

RSB_BLOCK (efficient=False, one weight group), branch width b = floor(Cin * 26 / 64):
  s1..s4 = split(conv_bn_relu1(x))                      1x1, Cin -> 4b, BN, ReLU
  o11 = u11(s1)
  o21 = u21(s2 + o11);  o22 = u22(o21)
  o31 = u31(s3 + o21);  o32 = u32(o31 + o22);  o33 = u33(o32)
  o41 = u41(s4 + o31);  o42 = u42(o41 + o32);  o43 = u43(o42 + o33);  o44 = u44(o43)
  y = conv_bn_relu3(concat(o11, o22, o33, o44))         1x1, 4b -> Cout, BN, no ReLU
  out = ReLU(y + shortcut)                              shortcut: downsample(x) in block 0
                                                        (1x1 conv + BN), else x
where every u is a 3x3 conv (with bias) + BN + ReLU, b -> b. Children are named as in the
published state_dict: conv_bn_relu1, conv_bn_relu2_{1_1, 2_1, ..., 4_4}, conv_bn_relu3,
downsample, each with `conv` and `bn`.
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import blocks

# Each cascade step: (its unit, the split it starts from (None: none), the outputs it adds).
_STEPS = (
    ('1_1', 0, ()),
    ('2_1', 1, ('1_1',)), ('2_2', None, ('2_1',)),
    ('3_1', 2, ('2_1',)), ('3_2', None, ('3_1', '2_2')), ('3_3', None, ('3_2',)),
    ('4_1', 3, ('3_1',)), ('4_2', None, ('4_1', '3_2')), ('4_3', None, ('4_2', '3_3')),
    ('4_4', None, ('4_3',)),
)
_BRANCH_OUTPUTS = ('1_1', '2_2', '3_3', '4_4')


def branch_width(in_channels: int) -> int:
  return in_channels * 26 // 64


class ResidualStepsBlock(nn.Module):
  """One RSB: [B, h, w, Cin] -> [B, h, w, features]."""
  features: int
  opts: blocks.LayerOptions
  downsample: bool

  def _unit(self, features: int, kernel: int, relu: bool, name: str) -> blocks.ConvBNReLU:
    return blocks.ConvBNReLU(features, kernel, self.opts, padding=kernel // 2, use_bias=True,
                             use_bn=True, use_relu=relu, name=name)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    b = branch_width(x.shape[-1])
    splits = jnp.split(self._unit(4 * b, 1, True, 'conv_bn_relu1')(x, train), 4, axis=-1)
    out = {}
    for name, split, added in _STEPS:
      inputs = [out[a] for a in added] if split is None else [splits[split]] + [out[a]
                                                                              for a in added]
      out[name] = self._unit(b, 3, True, f'conv_bn_relu2_{name}')(sum(inputs[1:], inputs[0]),
                                                                   train)
    y = self._unit(self.features, 1, False, 'conv_bn_relu3')(
        jnp.concatenate([out[n] for n in _BRANCH_OUTPUTS], axis=-1), train)
    shortcut = self._unit(self.features, 1, False, 'downsample')(x, train) if self.downsample else x
    return nn.relu(y + shortcut)


class ChainOfResidualSteps(nn.Module):
  """CHAIN_RSB_BLOCKS(Cin, features, num_blocks): block 0 projects, the rest keep the width.
  Children layers_0 .. layers_{n-1}."""
  features: int
  num_blocks: int
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for i in range(self.num_blocks):
      x = ResidualStepsBlock(self.features, self.opts, downsample=i == 0,
                             name=f'layers_{i}')(x, train)
    return x
