"""DCPose's published architecture (DcPose_RSN, github.com/Pose-Group/DCPose) in plain PyTorch.

Written from the facts of the published code (docs/dcpose.md), not copied from it, so that
random weights exported from here load into the published model under the same state_dict keys
and the JAX port can be checked against it number for number, on the CPU: the published code
needs a CUDA build of its deformable convolution, whose CPU path raises; this reference uses
torchvision's `deform_conv2d` (the same arithmetic) where torchvision imports, and
torch_reference.modulated_deform_conv2d otherwise.

Built from the JAX config's model section (`config.model`, DCPose's fields in
config.model.dcpose). `forward(x, margin)` takes the published inputs: x [B, 9, H, W] (current,
previous, next RGB), margin [B, 2] integer (c - p, n - c). Returned: every intermediate the JAX
model returns, NCHW, named alike (`outputs_to_nhwc` converts them).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from famipose_jax.interop.torch_reference import HRNet, ConvBnRelu, ModulatedDeformConv2d
from famipose_jax.interop.torch_reference import _Norm

# The residual-steps cascade: (unit, the split it starts from or None, the outputs it adds).
# Restated from the published posetimation/layers/RSN_model.py rather than imported from
# models/dcpose/residual_steps.py: the cross-check must not share a table with what it checks.
_STEPS = (
    ('1_1', 0, ()),
    ('2_1', 1, ('1_1',)), ('2_2', None, ('2_1',)),
    ('3_1', 2, ('2_1',)), ('3_2', None, ('3_1', '2_2')), ('3_3', None, ('3_2',)),
    ('4_1', 3, ('3_1',)), ('4_2', None, ('4_1', '3_2')), ('4_3', None, ('4_2', '3_3')),
    ('4_4', None, ('4_3',)),
)


class ResidualStepsBlock(nn.Module):
  """RSN's RSB_BLOCK as DCPose builds it (efficient=False, groups=1, every unit with BN)."""

  def __init__(self, cin: int, cout: int, norm: _Norm, downsample: bool):
    super().__init__()
    b = cin * 26 // 64
    self.branch = b
    self.conv_bn_relu1 = ConvBnRelu(cin, 4 * b, 1, 1, 0, 1, norm, relu=True)
    for name, _, _ in _STEPS:
      setattr(self, f'conv_bn_relu2_{name}', ConvBnRelu(b, b, 3, 1, 1, 1, norm, relu=True))
    self.conv_bn_relu3 = ConvBnRelu(4 * b, cout, 1, 1, 0, 1, norm, relu=False)
    self.downsample = ConvBnRelu(cin, cout, 1, 1, 0, 1, norm, relu=False) if downsample else None

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    splits = torch.split(self.conv_bn_relu1(x), self.branch, dim=1)
    out = {}
    for name, split, added in _STEPS:
      value = splits[split] if split is not None else None
      for a in added:
        value = out[a] if value is None else value + out[a]
      out[name] = getattr(self, f'conv_bn_relu2_{name}')(value)
    y = self.conv_bn_relu3(torch.cat([out['1_1'], out['2_2'], out['3_3'], out['4_4']], dim=1))
    shortcut = self.downsample(x) if self.downsample is not None else x
    return F.relu(y + shortcut)


class ChainOfResidualSteps(nn.Module):
  """CHAIN_RSB_BLOCKS: block 0 with the projection shortcut. Keys layers.{k}.*"""

  def __init__(self, cin: int, cout: int, num_blocks: int, norm: _Norm):
    super().__init__()
    self.layers = nn.ModuleList([ResidualStepsBlock(cin if k == 0 else cout, cout, norm, k == 0)
                                 for k in range(num_blocks)])

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    for layer in self.layers:
      x = layer(x)
    return x


class DeformableUnit(nn.Module):
  """DCPose's DeformableCONV wrapper: the DCN under `deform_conv`."""

  def __init__(self, channels: int, cout: int, kernel: int, dilation: int, dcn: str):
    super().__init__()
    self.deform_conv = ModulatedDeformConv2d(channels, cout, kernel, dilation * (kernel // 2),
                                             dilation, dcn)

  def forward(self, x, offset, mask):
    return self.deform_conv(x, offset, mask)


def interleave(maps: list[torch.Tensor]) -> torch.Tensor:
  """[B, K, h, w] maps -> [B, K * len(maps), h, w], channel j * len(maps) + t = maps[t][:, j]."""
  return torch.stack(maps, dim=2).flatten(1, 2)


class DCPoseReference(nn.Module):
  """DcPose_RSN: the shared HRNet, PRF, PTM, the combine stack and PCN."""

  def __init__(self, model_config, dcn: str = 'reference'):
    super().__init__()
    cfg, own = model_config, model_config.dcpose
    self.config = cfg
    joints = cfg.num_joints
    norm = _Norm(cfg.backbone.bn_momentum, cfg.backbone.bn_epsilon)
    self.rough_pose_estimation_net = HRNet(cfg.backbone, joints)
    self.diff_temporal_fuse = ChainOfResidualSteps(4 * joints, own.prf_channels, own.prf_blocks,
                                                   norm)
    self.support_temporal_fuse = ChainOfResidualSteps(3 * joints, own.ptm_channels,
                                                      own.ptm_blocks, norm)
    self.offset_mask_combine_conv = ChainOfResidualSteps(
        own.prf_channels + own.ptm_channels, own.combine_channels, own.combine_blocks, norm)
    k, groups = own.dcn_kernel_size, own.ptm_channels
    def predictor(channels: int, dilation: int) -> nn.Sequential:
      return nn.Sequential(nn.Conv2d(own.combine_channels, channels, k, padding=dilation,
                                     dilation=dilation, bias=False))
    self.offsets_list = nn.ModuleList([predictor(2 * groups * k * k, d)
                                       for d in own.dcn_dilations])
    self.masks_list = nn.ModuleList([predictor(groups * k * k, d) for d in own.dcn_dilations])
    self.modulated_deform_conv_list = nn.ModuleList([
        DeformableUnit(groups, joints, k, d, dcn) for d in own.dcn_dilations])

  def forward(self, x: torch.Tensor, margin: torch.Tensor) -> dict[str, torch.Tensor]:
    own = self.config.dcpose
    b = x.shape[0]
    frames = torch.cat([x[:, 0:3], x[:, 3:6], x[:, 6:9]], dim=0)   # current, previous, next
    heatmaps, _ = self.rough_pose_estimation_net(frames)
    current, previous, following = heatmaps[:b], heatmaps[b:2 * b], heatmaps[2 * b:]
    interval = torch.sum(margin, dim=1)
    # The published division is float32 (margin.float() / interval.float()) in any run.
    prev_weight = (margin[:, 1].float() / interval.float()).view(-1, 1, 1, 1)
    next_weight = (margin[:, 0].float() / interval.float()).view(-1, 1, 1, 1)
    prev_weight, next_weight = prev_weight.to(current.dtype), next_weight.to(current.dtype)
    diff_a, diff_b = current - previous, current - following
    prf_input = interleave([diff_a, prev_weight * diff_a, diff_b, next_weight * diff_b])
    ptm_input = interleave([current, prev_weight * previous, next_weight * following])
    difference = self.diff_temporal_fuse(prf_input)
    support = self.support_temporal_fuse(ptm_input)
    combined = self.offset_mask_combine_conv(torch.cat([difference, support], dim=1))
    out = {'backbone_heatmaps': current, 'previous_heatmaps': previous,
           'next_heatmaps': following, 'prev_weight': prev_weight, 'next_weight': next_weight,
           'prf_input': prf_input, 'ptm_input': ptm_input, 'difference_heatmaps': difference,
           'support_heatmaps': support, 'combined_features': combined}
    total: Optional[torch.Tensor] = None
    for i in range(len(own.dcn_dilations)):
      offset = self.offsets_list[i](combined)
      mask = self.masks_list[i](combined)
      if own.mask_activation == 'sigmoid':
        mask = torch.sigmoid(mask)
      corrected = self.modulated_deform_conv_list[i](support, offset, mask)
      out.update({f'offsets_{i}': offset, f'masks_{i}': mask, f'corrections_{i}': corrected})
      total = corrected if total is None else total + corrected
    if own.aggregation == 'mean':
      total = total * (1.0 / len(own.dcn_dilations))
    out['heatmaps'] = total
    return out


def published_init_(model: DCPoseReference) -> None:
  """DCPose's init_weights: every Conv2d N(0, 0.001) and zero bias, BN (1, 0), each deformable
  kernel the identity (1 at the centre tap from joint k to joint k), its bias 0."""
  for module in model.modules():
    if isinstance(module, nn.Conv2d):
      nn.init.normal_(module.weight, std=0.001)
      if module.bias is not None:
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
      nn.init.ones_(module.weight)
      nn.init.zeros_(module.bias)
    elif isinstance(module, ModulatedDeformConv2d):
      with torch.no_grad():
        module.weight.zero_()
        k = module.weight.shape[-1]
        for c in range(min(module.weight.shape[:2])):
          module.weight[c, c, k // 2, k // 2] = 1.0
        module.bias.zero_()
