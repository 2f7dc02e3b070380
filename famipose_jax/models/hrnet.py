"""HRNet (Sun et al., CVPR 2019) as the pose backbone of FAMI-Pose: features z and heatmaps.

Structure of the official pose HRNet (and FAMI-Pose's HRNetPlus): a stride-4 stem, layer1 of
Bottlenecks, then stages 2-4 of multi-resolution modules joined by transition layers. The last
stage-4 module fuses into the highest-resolution branch only; final_layer maps it to heatmaps.

Children are named after the PyTorch state_dict (conv1, bn1, layer1_0, transition1_1_0_0,
stage2_0/branches_1_2, stage2_0/fuse_layers_1_0_0_0, ..., final_layer): a PyTorch key maps to a
Flax path by merging every numeric segment into the segment before it with '_'.
"""

from typing import Sequence

import jax
import ml_collections
from flax import linen as nn

from famipose_jax.models import blocks


class HighResolutionModule(nn.Module):
  """Parallel branches of BasicBlocks, then every output branch sums all (resampled) inputs.

  Up-paths: 1x1 conv + BN + nearest upsampling by 2^(j-i). Down-paths: chains of 3x3 stride-2
  conv + BN, ReLU between but not after the last. The sum is followed by a ReLU.
  """
  num_channels: Sequence[int]
  num_blocks: Sequence[int]
  opts: blocks.LayerOptions
  multi_scale_output: bool = True   # False: output only the highest-resolution branch

  @nn.compact
  def __call__(self, xs: Sequence[jax.Array], train: bool) -> list[jax.Array]:
    """xs[b]: [B, H/2^b, W/2^b, Cin_b] -> list of [B, H/2^i, W/2^i, num_channels[i]]."""
    num_branches = len(self.num_channels)
    if len(xs) != num_branches or len(self.num_blocks) != num_branches:
      raise ValueError(f'HighResolutionModule {self.name!r}: {len(xs)} inputs, '
                       f'{len(self.num_blocks)} block counts, {num_branches} branches')
    opts = self.opts
    ys = []
    for b, x in enumerate(xs):
      for k in range(self.num_blocks[b]):
        x = blocks.BasicBlock(
            self.num_channels[b], opts, downsample=(k == 0 and x.shape[-1] != self.num_channels[b]),
            name=f'branches_{b}_{k}')(x, train)
      ys.append(x)
    if num_branches == 1:
      return ys

    outputs = []
    for i in range(num_branches if self.multi_scale_output else 1):
      total = None
      for j in range(num_branches):   # summed in PyTorch's order: branch 0 first
        if j == i:
          term = ys[j]
        elif j > i:
          term = opts.conv(self.num_channels[i], 1, name=f'fuse_layers_{i}_{j}_0')(ys[j])
          term = opts.batch_norm(name=f'fuse_layers_{i}_{j}_1')(term, use_running_average=not train)
          term = blocks.nearest_upsample(term, 2 ** (j - i))
        else:
          term = ys[j]
          for k in range(i - j):
            last = k == i - j - 1
            features = self.num_channels[i] if last else self.num_channels[j]
            term = opts.conv(features, 3, stride=2, padding=1,
                             name=f'fuse_layers_{i}_{j}_{k}_0')(term)
            term = opts.batch_norm(name=f'fuse_layers_{i}_{j}_{k}_1')(
                term, use_running_average=not train)
            if not last:
              term = nn.relu(term)
        if term.shape != ys[i].shape:
          raise ValueError(f'HighResolutionModule {self.name!r}: branch {j} resampled to '
                           f'{term.shape} cannot be added to branch {i} of shape {ys[i].shape}')
        total = term if total is None else total + term
      outputs.append(blocks.materialize(nn.relu(total)))
    return outputs


class HRNet(nn.Module):
  """HRNet pose backbone; `spec` is a backbone_presets.hrnet() section."""
  spec: ml_collections.FrozenConfigDict
  num_joints: int
  opts: blocks.LayerOptions

  def setup(self):
    # Defined in setup so that decode() can reuse it on features from outside the backbone.
    kernel = self.spec.final_conv_kernel
    self.final_layer = self.opts.conv(self.num_joints, kernel, padding=kernel // 2, use_bias=True)

  @property
  def stages(self) -> tuple[ml_collections.FrozenConfigDict, ...]:
    return (self.spec.stage2, self.spec.stage3, self.spec.stage4)

  @property
  def input_divisor(self) -> int:
    """Input H and W must be multiples of this: stride-4 stem, then one halving per branch."""
    return 4 * 2 ** (len(self.spec.stage4.num_channels) - 1)

  @property
  def feature_channels(self) -> int:
    return self.spec.stage4.num_channels[0]

  def decode(self, features: jax.Array) -> jax.Array:
    """final_layer alone: [B, h, w, C] -> [B, h, w, num_joints]."""
    return self.final_layer(features)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, stage_features: bool = False):
    """x: [B, H, W, 3] -> (heatmaps [B, H/4, W/4, K], features z [B, H/4, W/4, C]).

    With stage_features, also the highest-resolution branch after each stage, a tuple of 4
    [B, H/4, W/4, C_s] (TDMI's multi-stage features): transition1's branch 0 (stage 1's
    Bottleneck output mapped to the stage-2 width), then branch 0 of stages 2, 3 and 4 (the
    last is z itself).
    """
    divisor = self.input_divisor
    if x.shape[1] % divisor or x.shape[2] % divisor:
      raise ValueError(f'HRNet input height and width must be multiples of {divisor}, '
                       f'got {x.shape[1]}x{x.shape[2]} (check model.image_size)')
    opts, spec = self.opts, self.spec
    x = x.astype(opts.dtype)
    for i in (1, 2):
      x = opts.conv(spec.stem_channels, 3, stride=2, padding=1, name=f'conv{i}')(x)
      x = nn.relu(opts.batch_norm(name=f'bn{i}')(x, use_running_average=not train))
    for i in range(spec.layer1_blocks):
      needs_projection = x.shape[-1] != spec.layer1_planes * blocks.Bottleneck.expansion
      x = blocks.Bottleneck(spec.layer1_planes, opts, downsample=needs_projection,
                            name=f'layer1_{i}')(x, train)

    xs = [x]
    per_stage = []
    for s, stage in enumerate(self.stages):
      xs = self._transition(s + 1, xs, stage.num_channels, train)
      if s == 0:
        per_stage.append(xs[0])
      last_stage = s == len(self.stages) - 1
      for m in range(stage.num_modules):
        xs = HighResolutionModule(
            tuple(stage.num_channels), tuple(stage.num_blocks), opts,
            multi_scale_output=not (last_stage and m == stage.num_modules - 1),
            name=f'stage{s + 2}_{m}')(xs, train)
      per_stage.append(xs[0])
    features = xs[0]
    if stage_features:
      return self.final_layer(features), features, tuple(per_stage)
    return self.final_layer(features), features

  def _transition(self, index: int, xs: list[jax.Array], channels: Sequence[int],
                  train: bool) -> list[jax.Array]:
    """transition{index}: adapt existing branches' widths, spawn new branches by stride-2 convs."""
    opts = self.opts
    out = []
    for i, features in enumerate(channels):
      if i < len(xs):
        y = xs[i]
        if y.shape[-1] != features:
          y = opts.conv(features, 3, padding=1, name=f'transition{index}_{i}_0')(y)
          y = blocks.materialize(nn.relu(opts.batch_norm(name=f'transition{index}_{i}_1')(
              y, use_running_average=not train)))
      else:
        y = xs[-1]   # new branches grow from the previous stage's lowest resolution
        steps = i + 1 - len(xs)
        for j in range(steps):
          width = features if j == steps - 1 else xs[-1].shape[-1]
          y = opts.conv(width, 3, stride=2, padding=1, name=f'transition{index}_{i}_{j}_0')(y)
          y = nn.relu(opts.batch_norm(name=f'transition{index}_{i}_{j}_1')(
              y, use_running_average=not train))
        y = blocks.materialize(y)
      out.append(y)
    return out
