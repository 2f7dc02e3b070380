"""Global transformation module (GTM): coarse alignment of each supporting frame's features.

For supporting frame i, the feature difference d = z_sup_i - z_key goes through
feat_global_offset_layers (a BasicBlock C->c, `num_downsamples` stride-2 conv+BN+ReLU layers,
flatten, then Linears with no activation between them) to the transform parameters, and
z_sup_i is warped with kornia's warp_affine semantics (pixel-space source->destination matrix,
bilinear, zero padding), so a translation t moves the content by +t.

Modes: 'translation' (the published code: 2 outputs, theta = [[1, 0, tx], [0, 1, ty]]) and
'affine' (the paper: 6 outputs read as the full 2x3 pixel-space matrix; the last Linear starts
at zero weights and identity bias, so the warp starts as the identity).

Children are named after the PyTorch Sequential indices: feat_global_offset_layers_0 (the
BasicBlock chain), _1.._{num_downsamples} (conv_bn_relu), then the Linears at the following
indices after the Flatten's (7, 8, 9 as published).
"""

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from famipose_jax.models import blocks
from famipose_jax.models import initializers
from famipose_jax.ops import affine

_NUM_OUTPUTS = {'translation': 2, 'affine': 6}
_IDENTITY = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], np.float32)


def _identity_bias(key, shape, dtype=jnp.float32):
  del key
  return jnp.asarray(_IDENTITY, dtype).reshape(shape)


class GlobalTransformation(nn.Module):
  """Regresses one global transform per supporting frame and warps that frame's features."""
  mode: str
  channels: int                     # width of the regressor's conv layers (16)
  num_downsamples: int              # stride-2 conv layers (5: 96x72 -> 3x3)
  hidden_features: Sequence[int]    # Linear widths before the output Linear (64, 64)
  align_corners: bool
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, key_features: jax.Array, supporting_features: jax.Array,
               train: bool) -> tuple[jax.Array, jax.Array]:
    """Aligns every supporting frame to the key frame.

    Args:
      key_features: z_key [B, h, w, C].
      supporting_features: z_sup [B, N, h, w, C].
      train: BN batch statistics (and their update) when True.

    Returns:
      params: [B, N, 2] translations (tx, ty) in feature pixels, or [B, N, 2, 3] matrices.
      warped: [B, N, h, w, C] warped supporting features.
    """
    opts = self.opts
    layers = [blocks.ChainOfBasicBlocks(self.channels, 1, opts, name='feat_global_offset_layers_0')]
    for i in range(1, self.num_downsamples + 1):
      layers.append(blocks.ConvBNReLU(self.channels, 3, opts, stride=2, padding=1,
                                      name=f'feat_global_offset_layers_{i}'))
    first_linear = self.num_downsamples + 2    # the index after PyTorch's nn.Flatten
    widths = tuple(self.hidden_features) + (_NUM_OUTPUTS[self.mode],)
    regressor_dtype = jnp.promote_types(opts.dtype, jnp.float32)
    linears = []
    for k, width in enumerate(widths):
      last = k == len(widths) - 1
      identity_init = last and self.mode == 'affine'
      # At least float32 whatever the compute dtype (bfloat16 would round a 10 px shift by
      # ~0.04 px); float64 in a float64 run.
      linears.append(nn.Dense(
          width, dtype=regressor_dtype, param_dtype=jnp.float32,
          kernel_init=initializers.zeros if identity_init else initializers.torch_default_kernel(),
          bias_init=_identity_bias if identity_init else initializers.zeros,
          name=f'feat_global_offset_layers_{first_linear + k}'))

    params, warped = [], []
    # One pass per frame, as published: each BN call sees B examples, and the running statistics
    # are updated once per supporting frame.
    for i in range(supporting_features.shape[1]):
      support = supporting_features[:, i]
      x = support - key_features
      x = layers[0](x, train)
      for layer in layers[1:]:
        x = layer(x, train)
      # Flatten channel-major like PyTorch's NCHW nn.Flatten, so Linear weights convert as is.
      x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1).astype(regressor_dtype)
      for linear in linears:
        x = linear(x)
      if self.mode == 'translation':
        params.append(x)
        matrix = affine.translation_matrix(x)
      else:
        matrix = x.reshape(-1, 2, 3)
        params.append(matrix)
      warped.append(affine.warp_affine(support, matrix, self.align_corners).astype(opts.dtype))
    return jnp.stack(params, axis=1), jnp.stack(warped, axis=1)
