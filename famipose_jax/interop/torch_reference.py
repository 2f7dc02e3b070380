"""A PyTorch reference of the published FAMI-Pose network (Alignment_V15 on HRNetPlus).

Written from the published code (github.com/Pose-Group/FAMI-Pose, Alignment_V15) so that the JAX
model can be checked against an independent implementation with the published state_dict key
names. By default everything is plain PyTorch (no torchvision, no kornia): the modulated
deformable convolution and kornia's `warp_affine` are reimplemented here with the semantics the
published code relied on. `dcn='torchvision'` runs torchvision's `deform_conv2d` kernels
instead, as the published model does (the benchmarks time that one).

Layout is PyTorch's (NCHW, OIHW). Widths, depths and the switches come from the same model
ConfigDict as the JAX model (`config.model`, defaults in config_defaults.py), so tests can build
tiny networks and the full HRNet-W48 network from one code path.

`FamiPoseReference.forward` returns every intermediate in a dict with the names of the JAX
model's outputs (models/famipose/network.py); `outputs_to_nhwc` converts them to the JAX layouts.
"""

from __future__ import annotations

import math
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _torch_bn_momentum(flax_momentum: float) -> float:
  """Flax's momentum is the weight of the old running value, PyTorch's that of the new one."""
  return 1.0 - flax_momentum


class _Norm:
  """BatchNorm2d factory with the backbone's momentum and epsilon."""

  def __init__(self, flax_momentum: float, eps: float):
    self.momentum = _torch_bn_momentum(flax_momentum)
    self.eps = eps

  def __call__(self, channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=self.eps, momentum=self.momentum)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0,
          dilation: int = 1, bias: bool = False) -> nn.Conv2d:
  return nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation,
                   bias=bias)


# ----------------------------------------------------------------------------------------------
# Residual blocks
# ----------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
  """Two 3x3 convs (no bias) with BN; ReLU after the first and after the residual sum.

  Keys: conv1, bn1, conv2, bn2 and, when present, downsample.0 (1x1 conv), downsample.1 (BN).
  """

  def __init__(self, cin: int, cout: int, norm: _Norm, downsample: bool):
    super().__init__()
    self.conv1 = _conv(cin, cout, 3, padding=1)
    self.bn1 = norm(cout)
    self.conv2 = _conv(cout, cout, 3, padding=1)
    self.bn2 = norm(cout)
    self.downsample = nn.Sequential(_conv(cin, cout, 1), norm(cout)) if downsample else None

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    out = F.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    residual = x if self.downsample is None else self.downsample(x)
    return F.relu(out + residual)


class Bottleneck(nn.Module):
  """1x1 -> 3x3 -> 1x1 (x4 expansion) convs with BN, as in HRNet's layer1."""

  expansion = 4

  def __init__(self, cin: int, planes: int, norm: _Norm):
    super().__init__()
    cout = planes * self.expansion
    self.conv1 = _conv(cin, planes, 1)
    self.bn1 = norm(planes)
    self.conv2 = _conv(planes, planes, 3, padding=1)
    self.bn2 = norm(planes)
    self.conv3 = _conv(planes, cout, 1)
    self.bn3 = norm(cout)
    self.downsample = (nn.Sequential(_conv(cin, cout, 1), norm(cout)) if cin != cout
                       else None)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    out = F.relu(self.bn1(self.conv1(x)))
    out = F.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    residual = x if self.downsample is None else self.downsample(x)
    return F.relu(out + residual)


class ChainOfBasicBlocks(nn.Module):
  """FAMI-Pose's block chain: the first block always has a 1x1 conv + BN downsample.

  Keys: layers.{i}.*
  """

  def __init__(self, cin: int, cout: int, num_blocks: int, norm: _Norm):
    super().__init__()
    blocks = [BasicBlock(cin, cout, norm, downsample=True)]
    blocks += [BasicBlock(cout, cout, norm, downsample=False) for _ in range(1, num_blocks)]
    self.layers = nn.Sequential(*blocks)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.layers(x)


class ConvBnRelu(nn.Module):
  """Conv (with bias) optionally followed by BN and ReLU. Keys: conv.*, bn.*"""

  def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int,
               dilation: int, norm: Optional[_Norm], relu: bool):
    super().__init__()
    self.conv = _conv(cin, cout, kernel, stride, padding, dilation, bias=True)
    self.bn = norm(cout) if norm is not None else None
    self.relu = relu

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = self.conv(x)
    if self.bn is not None:
      x = self.bn(x)
    return F.relu(x) if self.relu else x


# ----------------------------------------------------------------------------------------------
# HRNet (HRNetPlus: the features are the last stage's fused high-resolution branch)
# ----------------------------------------------------------------------------------------------


class _NearestUpsample(nn.Module):

  def __init__(self, factor: int):
    super().__init__()
    self.factor = factor

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=self.factor, mode='nearest')


class HighResolutionModule(nn.Module):
  """Parallel branches of BasicBlocks, then every output branch sums all inputs and ReLUs.

  Keys: branches.{b}.{k}.*, fuse_layers.{i}.{j}.* (i == j has no module).
  """

  def __init__(self, channels: Sequence[int], num_blocks: Sequence[int], num_outputs: int,
               norm: _Norm):
    super().__init__()
    self.branches = nn.ModuleList(
        nn.Sequential(*[BasicBlock(c, c, norm, downsample=False) for _ in range(n)])
        for c, n in zip(channels, num_blocks))
    self.fuse_layers = None
    if len(channels) > 1:
      self.fuse_layers = nn.ModuleList(
          nn.ModuleList(self._fuse_path(channels, i, j, norm) for j in range(len(channels)))
          for i in range(num_outputs))

  @staticmethod
  def _fuse_path(channels, i: int, j: int, norm: _Norm) -> Optional[nn.Module]:
    """Resamples branch j to branch i's resolution and width."""
    if j == i:
      return None
    if j > i:  # lower resolution: 1x1 conv + BN, then nearest upsampling
      return nn.Sequential(_conv(channels[j], channels[i], 1), norm(channels[i]),
                           _NearestUpsample(2 ** (j - i)))
    steps = []
    for k in range(i - j):  # higher resolution: stride-2 3x3 convs, ReLU between
      last = k == i - j - 1
      cout = channels[i] if last else channels[j]
      layers = [_conv(channels[j], cout, 3, stride=2, padding=1), norm(cout)]
      if not last:
        layers.append(nn.ReLU())
      steps.append(nn.Sequential(*layers))
    return nn.Sequential(*steps)

  def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    xs = [branch(x) for branch, x in zip(self.branches, xs)]
    if self.fuse_layers is None:
      return xs
    fused = []
    for paths in self.fuse_layers:
      total = 0
      for path, x in zip(paths, xs):
        total = total + (x if path is None else path(x))
      fused.append(F.relu(total))
    return fused


class HRNet(nn.Module):
  """HRNet pose network; forward returns (heatmaps [B,K,h,w], features z [B,C,h,w])."""

  def __init__(self, backbone_config, num_joints: int):
    super().__init__()
    cfg = backbone_config
    norm = _Norm(cfg.bn_momentum, cfg.bn_epsilon)
    stem = cfg.stem_channels
    self.conv1 = _conv(3, stem, 3, stride=2, padding=1)
    self.bn1 = norm(stem)
    self.conv2 = _conv(stem, stem, 3, stride=2, padding=1)
    self.bn2 = norm(stem)
    layer1 = [Bottleneck(stem, cfg.layer1_planes, norm)]
    layer1_out = cfg.layer1_planes * Bottleneck.expansion
    layer1 += [Bottleneck(layer1_out, cfg.layer1_planes, norm)
               for _ in range(1, cfg.layer1_blocks)]
    self.layer1 = nn.Sequential(*layer1)

    previous = [layer1_out]
    stage_configs = [cfg.stage2, cfg.stage3, cfg.stage4]
    for index, stage in enumerate(stage_configs, start=2):
      channels = list(stage.num_channels)
      setattr(self, f'transition{index - 1}', self._transition(previous, channels, norm))
      is_last_stage = index == 4
      modules = []
      for m in range(stage.num_modules):
        single_output = is_last_stage and m == stage.num_modules - 1
        modules.append(HighResolutionModule(channels, stage.num_blocks,
                                            1 if single_output else len(channels), norm))
      setattr(self, f'stage{index}', nn.Sequential(*modules))
      previous = channels

    kernel = cfg.final_conv_kernel
    self.final_layer = _conv(previous[0], num_joints, kernel, padding=kernel // 2, bias=True)

  @staticmethod
  def _transition(previous: list[int], current: list[int], norm: _Norm) -> nn.ModuleList:
    """Keeps, re-widths (3x3 conv) or creates (stride-2 3x3 convs from the last) each branch."""
    layers = []
    for i, cout in enumerate(current):
      if i < len(previous):
        layers.append(None if previous[i] == cout else nn.Sequential(
            _conv(previous[i], cout, 3, padding=1), norm(cout), nn.ReLU()))
      else:
        steps = []
        for k in range(i + 1 - len(previous)):
          step_out = cout if k == i - len(previous) else previous[-1]
          steps.append(nn.Sequential(_conv(previous[-1], step_out, 3, stride=2, padding=1),
                                     norm(step_out), nn.ReLU()))
        layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)

  def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = F.relu(self.bn1(self.conv1(x)))
    x = F.relu(self.bn2(self.conv2(x)))
    xs = [self.layer1(x)]
    for index in (2, 3, 4):
      transition = getattr(self, f'transition{index - 1}')
      inputs = []
      for i, layer in enumerate(transition):
        if i < len(xs):
          inputs.append(xs[i] if layer is None else layer(xs[i]))
        else:  # a new branch grows from the lowest-resolution existing one
          inputs.append(layer(xs[-1]))
      xs = getattr(self, f'stage{index}')(inputs)
    features = xs[0]
    return self.final_layer(features), features


# ----------------------------------------------------------------------------------------------
# Operations the published code took from torchvision and kornia
# ----------------------------------------------------------------------------------------------


def bilinear_gather_zeros(image: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
  """Bilinear samples of `image` at pixel coordinates; corners outside the image count as 0.

  Args:
    image: [B, G, Cg, H, W].
    y, x: [B, G, *S] row / column coordinates (0 = centre of the first pixel).

  Returns:
    [B, G, Cg, *S].
  """
  b, g, cg, h, w = image.shape
  spatial = y.shape[2:]
  y = y.reshape(b, g, 1, -1)
  x = x.reshape(b, g, 1, -1)
  flat = image.reshape(b, g, cg, h * w)
  y0, x0 = torch.floor(y), torch.floor(x)
  fy, fx = y - y0, x - x0
  out = 0
  for dy, wy in ((0, 1 - fy), (1, fy)):
    for dx, wx in ((0, 1 - fx), (1, fx)):
      yi, xi = y0 + dy, x0 + dx
      inside = (yi >= 0) & (yi <= h - 1) & (xi >= 0) & (xi <= w - 1)
      index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).long()
      values = torch.gather(flat, 3, index.expand(b, g, cg, index.shape[-1]))
      out = out + values * (wy * wx * inside)
  return out.reshape(b, g, cg, *spatial)


def modulated_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor,
                            weight: torch.Tensor, bias: Optional[torch.Tensor],
                            stride: int = 1, padding: int = 0,
                            dilation: int = 1) -> torch.Tensor:
  """DCNv2 with torchvision `deform_conv2d` semantics (one weight group).

  Args:
    x: [B, Cin, H, W].
    offset: [B, 2*G*kh*kw, Ho, Wo]; channel 2*(g*kh*kw + k) is the row offset (dy) of tap k
      (row-major) of offset group g, the next channel its column offset (dx). Input channels
      are split into G contiguous groups.
    mask: [B, G*kh*kw, Ho, Wo], multiplies each sampled tap as given (no activation).
    weight: [Cout, Cin, kh, kw]; bias: [Cout] or None.

  Returns:
    [B, Cout, Ho, Wo].
  """
  b, cin, _, _ = x.shape
  cout, _, kh, kw = weight.shape
  taps = kh * kw
  groups = offset.shape[1] // (2 * taps)
  ho, wo = offset.shape[2:]
  offset = offset.reshape(b, groups, taps, 2, ho, wo)
  tap_y = (torch.arange(kh, dtype=x.dtype) * dilation).repeat_interleave(kw)
  tap_x = (torch.arange(kw, dtype=x.dtype) * dilation).repeat(kh)
  out_y = torch.arange(ho, dtype=x.dtype) * stride - padding
  out_x = torch.arange(wo, dtype=x.dtype) * stride - padding
  y = out_y.view(1, 1, 1, ho, 1) + tap_y.view(1, 1, taps, 1, 1) + offset[:, :, :, 0]
  xx = out_x.view(1, 1, 1, 1, wo) + tap_x.view(1, 1, taps, 1, 1) + offset[:, :, :, 1]
  grouped = x.reshape(b, groups, cin // groups, *x.shape[2:])
  columns = bilinear_gather_zeros(grouped, y, xx)  # [B, G, Cg, taps, Ho, Wo]
  columns = columns * mask.reshape(b, groups, 1, taps, ho, wo)
  columns = columns.reshape(b, cin, taps, ho, wo)
  out = torch.einsum('bckhw,ock->bohw', columns, weight.reshape(cout, cin, taps))
  if bias is not None:
    out = out + bias.view(1, -1, 1, 1)
  return out


DCN_IMPLEMENTATIONS = ('reference', 'torchvision')


class ModulatedDeformConv2d(nn.Module):
  """Parameters named like torchvision's DeformConv2d (weight, bias), forward(x, offset, mask).

  `dcn` picks the kernel: 'reference' (modulated_deform_conv2d above) or 'torchvision'
  (torchvision.ops.deform_conv2d, the published model's; same semantics).
  """

  def __init__(self, cin: int, cout: int, kernel: int, padding: int, dilation: int,
               dcn: str = 'reference'):
    super().__init__()
    if dcn not in DCN_IMPLEMENTATIONS:
      raise ValueError(f'dcn={dcn!r}: expected one of {DCN_IMPLEMENTATIONS}')
    if dcn == 'torchvision':
      import torchvision  # pylint: disable=g-import-not-at-top
      self._deform_conv2d = torchvision.ops.deform_conv2d
    else:
      self._deform_conv2d = None
    self.padding = padding
    self.dilation = dilation
    self.weight = nn.Parameter(torch.empty(cout, cin, kernel, kernel))
    self.bias = nn.Parameter(torch.empty(cout))
    # torchvision's defaults (the published init zeroes the bias afterwards).
    nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
    bound = 1 / math.sqrt(cin * kernel * kernel)
    nn.init.uniform_(self.bias, -bound, bound)

  def forward(self, x, offset, mask):
    if self._deform_conv2d is not None:
      return self._deform_conv2d(x, offset, self.weight, self.bias, padding=self.padding,
                                 dilation=self.dilation, mask=mask)
    return modulated_deform_conv2d(x, offset, mask, self.weight, self.bias,
                                   padding=self.padding, dilation=self.dilation)


def normal_transform_pixel(height: int, width: int, dtype=torch.float32,
                           eps: float = 1e-14) -> torch.Tensor:
  """kornia's pixel -> [-1, 1] matrix: always the corner convention (size - 1)."""
  w = eps if width == 1 else width - 1.0
  h = eps if height == 1 else height - 1.0
  return torch.tensor([[2.0 / w, 0.0, -1.0], [0.0, 2.0 / h, -1.0], [0.0, 0.0, 1.0]],
                      dtype=dtype)


def warp_affine(src: torch.Tensor, matrix: torch.Tensor, align_corners: bool,
                dsize: Optional[tuple[int, int]] = None) -> torch.Tensor:
  """kornia.geometry.warp_affine(src, matrix, dsize, 'bilinear', 'zeros', align_corners).

  kornia normalises the pixel matrix with the (size - 1) convention whatever `align_corners`
  is, then hands its inverse to affine_grid / grid_sample with `align_corners`; with False a
  translation t therefore moves content by t * size / (size - 1).

  Args:
    src: [B, C, H, W].
    matrix: [B, 2, 3] source -> destination, in pixels.
    dsize: (Ho, Wo), default (H, W).
  """
  b, c, h, w = src.shape
  ho, wo = dsize or (h, w)
  bottom = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=src.dtype).expand(b, 1, 3)
  pixel_matrix = torch.cat([matrix, bottom], dim=1)
  normalized = (normal_transform_pixel(ho, wo, src.dtype) @ pixel_matrix
                @ torch.linalg.inv(normal_transform_pixel(h, w, src.dtype)))
  src_from_dst = torch.linalg.inv(normalized)[:, :2]
  grid = F.affine_grid(src_from_dst, [b, c, ho, wo], align_corners=align_corners)
  return F.grid_sample(src, grid, mode='bilinear', padding_mode='zeros',
                       align_corners=align_corners)


# ----------------------------------------------------------------------------------------------
# FAMI-Pose
# ----------------------------------------------------------------------------------------------


_GLOBAL_OUTPUTS = {'translation': 2, 'affine': 6}


def _conv_output_size(size: int, num_downsamples: int) -> int:
  for _ in range(num_downsamples):  # 3x3, stride 2, padding 1
    size = (size - 1) // 2 + 1
  return size


class FamiPoseReference(nn.Module):
  """Alignment_V15: HRNet features, global transformation, local calibration, fusion, head.

  Built from the JAX model's ConfigDict (`config.model`, FAMI-Pose's fields in
  config.model.famipose; model.family 'single_frame' builds the HRNet alone). `num_supporting`
  is N, the number of supporting frames (the published sup_agg_block takes N*C channels); `dcn`
  the deformable convolution kernel (see ModulatedDeformConv2d).
  """

  def __init__(self, model_config, num_supporting: int = 4, dcn: str = 'reference'):
    super().__init__()
    cfg = model_config
    self.config = cfg
    self.temporal = cfg.family != 'single_frame'
    self.num_supporting = num_supporting
    self.hrnet = HRNet(cfg.backbone, cfg.num_joints)
    if cfg.head == 'simcc':
      self._add_simcc_head()
    if not self.temporal:
      return
    norm = _Norm(cfg.backbone.bn_momentum, cfg.backbone.bn_epsilon)
    width = cfg.backbone.stage4.num_channels[0]
    own = cfg.famipose

    if own.global_transform != 'none':
      gtm = own.gtm_channels
      layers = [ChainOfBasicBlocks(width, gtm, 1, norm)]
      layers += [ConvBnRelu(gtm, gtm, 3, 2, 1, 1, norm, relu=True)
                 for _ in range(own.gtm_num_downsamples)]
      layers.append(nn.Flatten())
      heat_w, heat_h = cfg.heatmap_size
      features = (gtm * _conv_output_size(heat_h, own.gtm_num_downsamples)
                  * _conv_output_size(heat_w, own.gtm_num_downsamples))
      for hidden in tuple(own.gtm_hidden_features) + (_GLOBAL_OUTPUTS[own.global_transform],):
        layers.append(nn.Linear(features, hidden))  # no activation between them (published)
        features = hidden
      if own.global_transform == 'affine':  # the paper's variant starts as the identity warp
        nn.init.zeros_(layers[-1].weight)
        with torch.no_grad():
          layers[-1].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
      self.feat_global_offset_layers = nn.Sequential(*layers)

    self.sup_agg_block = ChainOfBasicBlocks(num_supporting * width, width, own.support_blocks,
                                            norm)
    self.combined_feat_layers = ChainOfBasicBlocks(2 * width, width, own.combine_blocks, norm)
    if own.local_calibration:
      k, dilation, groups = own.dcn_kernel_size, own.dcn_dilation, own.dcn_offset_groups
      padding = dilation * (k // 2)
      for i in range(1, 5):
        setattr(self, f'dcn_offset_{i}',
                ConvBnRelu(width, 2 * k * k * groups, k, 1, padding, dilation, None, False))
        setattr(self, f'dcn_mask_{i}',
                ConvBnRelu(width, k * k * groups, k, 1, padding, dilation, None, False))
        setattr(self, f'dcn_{i}', ModulatedDeformConv2d(width, width, k, padding, dilation,
                                                             dcn))
    self.init_feature_agg_block = ChainOfBasicBlocks(2 * width, width, own.fusion_blocks, norm)
    head_k = own.head_kernel_size
    self.agg_final_layer = _conv(width, cfg.num_joints, head_k, padding=head_k // 2, bias=True)

  def _add_simcc_head(self):
    """SimCC classifiers on the final maps flattened row-major (SimCC's names)."""
    cfg = self.config
    heat_w, heat_h = cfg.heatmap_size
    image_w, image_h = cfg.image_size
    ratio = cfg.simcc_split_ratio
    self.mlp_head_x = nn.Linear(heat_h * heat_w, round(image_w * ratio))
    self.mlp_head_y = nn.Linear(heat_h * heat_w, round(image_h * ratio))

  def train(self, mode: bool = True):
    super().train(mode)
    if mode and self.temporal and not self.config.backbone_bn_batch_stats:
      self.hrnet.eval()  # the fix of the published quirk: frozen BN uses running statistics
    return self

  def _deform(self, i: int, x: torch.Tensor, steer: torch.Tensor) -> torch.Tensor:
    """DCN i applied to x with offsets and mask predicted from `steer`."""
    offset = getattr(self, f'dcn_offset_{i}')(steer)
    mask = getattr(self, f'dcn_mask_{i}')(steer)
    if self.config.famipose.dcn_mask_activation == 'sigmoid':
      mask = torch.sigmoid(mask)
    return getattr(self, f'dcn_{i}')(x, offset, mask)

  def forward(self, key_image: torch.Tensor,
              supporting_images: Optional[torch.Tensor] = None) -> dict[str, torch.Tensor]:
    """Runs the network.

    Args:
      key_image: [B, 3, H, W].
      supporting_images: [B, N, 3, H, W] or None (single-frame).

    Returns:
      A dict (NCHW; per-frame tensors [B, N, C, h, w]) named like the JAX model's outputs.
    """
    cfg = self.config
    if self.temporal and supporting_images is None:
      raise ValueError('supporting_images is required: FAMI-Pose reads supporting frames')
    if not self.temporal:
      heatmaps, features = self.hrnet(key_image)
      out = {'heatmaps': heatmaps, 'backbone_heatmaps': heatmaps, 'key_features': features,
             'decoded_key': heatmaps.detach()}
    else:
      out = self._temporal(key_image, supporting_images)
    if cfg.head == 'simcc':
      maps = out['heatmaps'].flatten(2)
      out['simcc_x'], out['simcc_y'] = self.mlp_head_x(maps), self.mlp_head_y(maps)
    return out

  def _temporal(self, key_image, supporting_images):
    own = self.config.famipose

    b, n = supporting_images.shape[:2]
    # One backbone pass, frames stacked on the batch axis: key, then support 0, 1, ...
    frames = torch.cat([key_image, supporting_images.transpose(0, 1).flatten(0, 1)], dim=0)
    all_heatmaps, all_features = self.hrnet(frames)
    all_features = all_features.reshape(1 + n, b, *all_features.shape[1:])
    key, support = all_features[0], all_features[1:]
    out = {'backbone_heatmaps': all_heatmaps[:b], 'key_features': key,
           'supporting_features': support.transpose(0, 1)}

    warped = []
    params = []
    for i in range(n):
      if own.global_transform == 'none':
        warped.append(support[i])
        continue
      regressed = self.feat_global_offset_layers(support[i] - key)
      if own.global_transform == 'translation':  # (tx, ty) -> [[1, 0, tx], [0, 1, ty]]
        matrix = torch.eye(3, dtype=key.dtype)[:2].repeat(b, 1, 1)
        matrix = torch.cat([matrix[:, :, :2], regressed[:, :, None]], dim=2)
        params.append(regressed)
      else:
        matrix = regressed.reshape(b, 2, 3)
        params.append(matrix)
      warped.append(warp_affine(support[i], matrix, own.warp_align_corners))
    if params:
      out['global_params'] = torch.stack(params, dim=1)
    out['warped_support'] = torch.stack(warped, dim=1)

    aggregated = self.sup_agg_block(torch.cat(warped, dim=1))
    combined = self.combined_feat_layers(torch.cat([aggregated, key], dim=1))
    if own.local_calibration:
      combined = self._deform(1, combined, combined)
      combined = self._deform(2, combined, combined)
      calibrated = self._deform(3, aggregated, combined)
      calibrated = self._deform(4, calibrated, calibrated)
    else:
      calibrated = aggregated
    fused = self.init_feature_agg_block(torch.cat([key, calibrated], dim=1))
    out.update(
        aggregated_support=aggregated, calibrated_key=combined, calibrated_support=calibrated,
        fused_features=fused, heatmaps=self.agg_final_layer(fused))
    # What the published MI terms decode with the frozen backbone head.
    for name, source in (('decoded_fused', fused), ('decoded_support', aggregated),
                         ('decoded_key', key)):
      out[name] = self.hrnet.final_layer(source).detach()
    return out


# ----------------------------------------------------------------------------------------------
# The "mutual information" terms as coded
# ----------------------------------------------------------------------------------------------


def _published_divergence(fixed: torch.Tensor, moving: torch.Tensor, temperature: float,
                          finite_gradient: bool = False) -> torch.Tensor:
  """F.kl_div(softmax(fixed/T), softmax(moving/T), 'mean') over each map's H*W positions.

  finite_gradient: the same value, mean(q * (log q - p)) with 0 where q is 0, computed from
  log_softmax, whose gradient is 0 where q underflows to 0 (the published call's is NaN
  there, from log 0). The benchmarks use it: a NaN gradient would reach torchvision's DCN
  offsets after one optimiser step.
  """
  p = torch.softmax(fixed.detach().flatten(2) / temperature, dim=-1)
  if finite_gradient:
    log_q = torch.log_softmax(moving.flatten(2) / temperature, dim=-1)
    return torch.mean(torch.exp(log_q) * (log_q - p))
  q = torch.softmax(moving.flatten(2) / temperature, dim=-1)
  with warnings.catch_warnings():  # torch warns that 'mean' is not 'batchmean': intended here
    warnings.simplefilter('ignore', UserWarning)
    return F.kl_div(p, q, reduction='mean')


def published_mi_terms(outputs: dict[str, torch.Tensor], temperature: float,
                       alpha: float, beta: float, finite_gradient: bool = False
                       ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
  """The six published terms and L_MI = alpha(-beta L1 + beta L2 + L3 - L4 + L5 - L6).

  finite_gradient: see _published_divergence.
  """
  hm = outputs['heatmaps']
  key, fused = outputs['key_features'], outputs['fused_features']
  kl = lambda fixed, moving: _published_divergence(fixed, moving, temperature, finite_gradient)
  terms = {
      'mi_1': kl(outputs['decoded_fused'], hm),
      'mi_2': kl(key, fused),
      'mi_3': kl(outputs['decoded_support'], hm),
      'mi_4': kl(outputs['aggregated_support'], fused),
      'mi_5': kl(outputs['decoded_key'], hm),
      'mi_6': kl(key, fused),
  }
  t = terms
  loss = alpha * (-beta * t['mi_1'] + beta * t['mi_2'] + t['mi_3'] - t['mi_4'] + t['mi_5']
                  - t['mi_6'])
  return loss, terms


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


_NOT_MAPS = ('global_params', 'simcc_x', 'simcc_y')


def outputs_to_nhwc(outputs: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
  """NCHW reference outputs -> numpy arrays in the JAX layouts ([..., h, w, C])."""
  converted = {}
  for name, value in outputs.items():
    value = value.detach().cpu().numpy()
    if name not in _NOT_MAPS and value.ndim >= 4:  # [..., C, h, w] -> [..., h, w, C]
      value = np.moveaxis(value, -3, -1)
    converted[name] = value
  return converted


def published_init_(model: FamiPoseReference) -> None:
  """The published init: Conv2d ~ N(0, std), biases 0, BN (1, 0); Linear/DCN weights default."""
  std = model.config.conv_init_std
  for module in model.modules():
    if isinstance(module, nn.Conv2d):
      nn.init.normal_(module.weight, std=std)
    elif isinstance(module, nn.BatchNorm2d):
      nn.init.ones_(module.weight)
    for name, parameter in module.named_parameters(recurse=False):
      if name == 'bias':
        nn.init.zeros_(parameter)
