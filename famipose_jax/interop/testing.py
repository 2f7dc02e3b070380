"""Helpers for the PyTorch cross-check tests: a tiny model config and random weights.

The published init (conv weights ~ N(0, 0.001)) makes every feature nearly zero, which would let
a wrong network agree with the reference to 1e-4. The cross-checks use weights and BatchNorm
statistics of order one instead, and offsets/translations of a few pixels so that bilinear
sampling, zero padding and the deformable taps are all exercised.
"""

from __future__ import annotations

import math

import ml_collections
import torch
from torch import nn

from configs import backbones
from configs import posetrack17
from famipose_jax.interop import torch_reference


def tiny_config(image_size=(64, 96)) -> ml_collections.ConfigDict:
  """The PoseTrack17 config with a tiny HRNet and a narrow FAMI-Pose head ([H, W] = 96 x 64).

  Every stage, the 5-step global transformation (24x16 -> 1x1) and 2 offset groups are kept.
  """
  config = posetrack17.get_config()
  m = config.model
  m.backbone = backbones.hrnet_tiny()
  m.image_size = tuple(image_size)
  m.heatmap_size = (image_size[0] // 4, image_size[1] // 4)
  m.gtm_channels = 4
  m.gtm_hidden_features = (8, 8)
  m.dcn_offset_groups = 2
  return config


def randomize_(model: nn.Module, seed: int, offset_pixels: float = 2.0) -> None:
  """Fills every parameter and BN buffer with order-one random values (in place).

  Convolutions and Linears get N(0, 1/fan_in) weights (scaled so the offset convolutions and
  the global translation predict shifts of about `offset_pixels`), BN gets gamma in [0.5, 1.5],
  small beta, running means and variances near (0, 1).
  """
  generator = torch.Generator().manual_seed(seed)

  def normal_(tensor, std):
    with torch.no_grad():
      tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)

  def uniform_(tensor, low, high):
    with torch.no_grad():
      tensor.copy_(low + (high - low) * torch.rand(tensor.shape, generator=generator))

  for name, module in model.named_modules():
    weight = getattr(module, 'weight', None)
    if isinstance(module, nn.BatchNorm2d):
      uniform_(module.weight, 0.5, 1.5)
      normal_(module.bias, 0.1)
      normal_(module.running_mean, 0.1)
      uniform_(module.running_var, 0.5, 1.5)
      module.num_batches_tracked.fill_(7)
      continue
    if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
      continue
    fan_in = math.prod(weight.shape[1:])
    gain = offset_pixels if name.startswith('dcn_offset') else 1.0
    if name == last_linear_name(model):
      gain = offset_pixels
    normal_(weight, gain / math.sqrt(fan_in))
    if getattr(module, 'bias', None) is not None:
      normal_(module.bias, 0.1)


def last_linear_name(model: nn.Module) -> str:
  """Name of the global transformation's output Linear ('' when there is none)."""
  names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
  return names[-1] if names else ''


def random_reference(config: ml_collections.ConfigDict, num_supporting: int,
                     seed: int) -> torch_reference.FamiPoseReference:
  model = torch_reference.FamiPoseReference(config.model, num_supporting=num_supporting)
  randomize_(model, seed)
  return model
