"""TDMI's Representation Disentanglement Module (RDM): useful and noisy parts of the motion.

Fig. 2 of the paper: M -> MLP_u -> sigmoid -> weights * M = M_u (useful), and the same with
its own MLP_n for M_n (noisy); only M_u goes on to the pose, and the mutual information of
M_u and M_n is minimised (the objective: models/tdmi/objective.py). The gate's input is the
globally pooled M (per-channel weights, as the lab model: 'channel') or each pixel's feature
vector (per-pixel weights: 'pixel'). Nothing ties the two gates together (neither source shows
such a constraint); the objective's reconstruction term guards against a collapsed branch.
"""

import jax
import jax.numpy as jnp
from flax import linen as nn

from famipose_jax.models import initializers


class Gate(nn.Module):
  """sigmoid(Linear(ReLU(Linear(x)))): [..., C] -> [..., C] weights in (0, 1)."""
  hidden: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    # The lab model keeps PyTorch's default Linear weights and zeroes the biases.
    dense = lambda features, name: nn.Dense(
        features, kernel_init=initializers.torch_default_kernel(),
        bias_init=initializers.zeros, param_dtype=jnp.float32, name=name)
    # In float32 whatever model.dtype: the gates are tiny and their sigmoid saturates early.
    return nn.sigmoid(dense(channels, 'out')(nn.relu(dense(self.hidden, 'hidden')(
        x.astype(jnp.float32)))))


class Disentanglement(nn.Module):
  """The two gated branches of M."""
  gate_input: str      # 'channel' | 'pixel'
  hidden: int

  @nn.compact
  def __call__(self, motion: jax.Array) -> dict[str, jax.Array]:
    """M [B, h, w, C] -> useful/noisy motion [B, h, w, C] and their gates ([B, 1, 1, C] for
    'channel', [B, h, w, C] for 'pixel')."""
    x = (jnp.mean(motion.astype(jnp.float32), axis=(1, 2), keepdims=True)
         if self.gate_input == 'channel' else motion)
    useful = Gate(self.hidden, name='useful_gate')(x).astype(motion.dtype)
    noisy = Gate(self.hidden, name='noisy_gate')(x).astype(motion.dtype)
    return {'useful_gate': useful, 'noisy_gate': noisy,
            'useful_motion': useful * motion, 'noisy_motion': noisy * motion}
