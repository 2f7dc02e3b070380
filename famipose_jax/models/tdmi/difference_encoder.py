"""TDMI's Temporal Difference Encoder (TDE): multi-stage feature differences -> motion feature M.

Per backbone stage j (Fig. 2 of the paper; the unofficial lab model DTDMNRV15_2 fills in what
the figure leaves open, docs/tdmi.md says which is which):
  Delta_j = concat of the frame differences of stage j's features (adjacent pairs, later minus
            earlier, in time order; or each frame against the key frame)
  D_j     = motion_fusion_s{j}: N_j BasicBlocks, Delta_j -> C channels
  V_j     = m_a_dcn_s{j}(D_j): a modulated deformable convolution whose offsets and mask come
            from BasicBlocks on a guide (m_a_dcn_s{j}/guide, the lab's m_a_agg_s{j}): concat(the
            key frame's last-stage feature, D_j), or D_j
  cascade: v_1 = V_1 (then a conv when cascade_first_conv), v_j = smooth_s{j}(v_{j-1} + V_j);
           without the cascade, M = smooth(sum_j V_j).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from famipose_jax.models import blocks
from famipose_jax.models.deformable import DeformConv2d


def frame_differences(frames: Sequence[jax.Array], key_index: int, pairing: str) -> jax.Array:
  """The differences of one stage's features, concatenated on channels.

  Args:
    frames: T feature maps [B, h, w, C] in time order.
    key_index: where the key frame is in `frames`.
    pairing: 'adjacent' (frames[i+1] - frames[i], i = 0..T-2) or 'key' (the later minus the
      earlier of each frame and the key frame).

  Returns:
    [B, h, w, (T-1) * C].
  """
  if pairing == 'adjacent':
    pairs = [(i, i + 1) for i in range(len(frames) - 1)]
  elif pairing == 'key':
    pairs = [(i, key_index) if i < key_index else (key_index, i)
             for i in range(len(frames)) if i != key_index]
  else:
    raise ValueError(f"frame_differences: pairing must be 'adjacent' or 'key', got {pairing!r}")
  return jnp.concatenate([frames[later] - frames[earlier] for earlier, later in pairs], axis=-1)


class MotionDeformation(nn.Module):
  """V_j = DCN(D_j; offsets and mask from `guide`): the lab's m_a_agg / m_a_dcn pair."""
  guide_blocks: int
  kernel_size: int
  dilation: int            # the DCN's sampling grid
  offset_dilation: int     # the offset and mask convs'
  offset_groups: int
  mask_activation: str
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, motion: jax.Array, guide: jax.Array, train: bool) -> jax.Array:
    """motion D_j [B, h, w, C], guide [B, h, w, C_g] -> V_j [B, h, w, C]."""
    channels, k, groups = motion.shape[-1], self.kernel_size, self.offset_groups
    guide = blocks.ChainOfBasicBlocks(channels, self.guide_blocks, self.opts,
                                      name='guide')(guide, train)
    pad = self.offset_dilation * (k // 2)
    def predictor(features, name):
      return self.opts.conv(features, k, padding=pad, dilation=self.offset_dilation,
                            use_bias=True, name=name)
    offset = predictor(2 * groups * k * k, 'offset')(guide)
    mask = predictor(groups * k * k, 'mask')(guide)
    if self.mask_activation == 'sigmoid':
      mask = nn.sigmoid(mask)
    return DeformConv2d(channels, k, self.dilation, self.dilation * (k // 2), groups, self.opts,
                        name='dcn')(motion, offset, mask)


class CascadeConv(nn.Module):
  """The cascade's "Conv": one BasicBlock with its projection (lab) or a plain 3x3 conv (figure)."""
  kind: str
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    if self.kind == 'basic_block':
      return blocks.ChainOfBasicBlocks(x.shape[-1], 1, self.opts, name='block')(x, train)
    return self.opts.conv(x.shape[-1], 3, padding=1, use_bias=True, name='conv')(x)


class TemporalDifferenceEncoder(nn.Module):
  """The TDE; `own` is config.model.tdmi (frozen)."""
  own: ml_collections.FrozenConfigDict
  opts: blocks.LayerOptions

  @nn.compact
  def __call__(self, stage_frames: Sequence[Sequence[jax.Array]], key_index: int,
               key_last_stage: jax.Array, train: bool) -> dict[str, jax.Array]:
    """The motion feature M of the used stages.

    Args:
      stage_frames: per used stage (own.stages order), its T feature maps in time order.
      key_index: the key frame's place in time order.
      key_last_stage: the key frame's last-stage feature [B, h, w, C] (the DCN guide).

    Returns:
      {'motion_features': M [B, h, w, C], 'stage_motion_j': D_j, 'stage_deformed_j': V_j}.
    """
    own, opts = self.own, self.opts
    channels = key_last_stage.shape[-1]
    out, deformed = {}, []
    for stage, frames in zip(own.stages, stage_frames):
      blocks_j = own.residual_blocks[stage - 1]
      d = blocks.ChainOfBasicBlocks(channels, blocks_j, opts, name=f'motion_fusion_s{stage}')(
          frame_differences(frames, key_index, own.difference_pairing), train)
      v = d
      if own.dcn:
        guide = (jnp.concatenate([key_last_stage, d], axis=-1)
                 if own.offset_source == 'key_and_difference' else d)
        v = MotionDeformation(own.offset_guide_blocks, own.dcn_kernel_size, own.dcn_dilation,
                              own.offset_dilation, channels // own.dcn_group_channels,
                              own.dcn_mask_activation, opts, name=f'm_a_dcn_s{stage}')(
                                  d, guide, train)
      out[f'stage_motion_{stage}'], out[f'stage_deformed_{stage}'] = d, v
      deformed.append((stage, v))

    conv = lambda name: CascadeConv(own.cascade_conv, opts, name=name)
    if own.cascade:
      first_stage, motion = deformed[0]
      if own.cascade_first_conv:
        motion = conv(f'smooth_s{first_stage}')(motion, train)
      for stage, v in deformed[1:]:
        motion = conv(f'smooth_s{stage}')(motion + v, train)
    else:
      motion = conv('smooth')(sum(v for _, v in deformed), train)
    out['motion_features'] = motion
    return out
