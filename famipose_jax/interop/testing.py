"""Helpers for the PyTorch cross-check tests: a tiny model config and random weights.

The published init (conv weights ~ N(0, 0.001)) makes every feature nearly zero, which would let
a wrong network agree with the reference to 1e-4. The cross-checks use weights and BatchNorm
statistics of order one instead, and offsets/translations of a few pixels so that bilinear
sampling, zero padding and the deformable taps are all exercised.
"""

from __future__ import annotations

import contextlib
import copy
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import torch
from torch import nn

from famipose_jax import models
from famipose_jax.config import backbone_presets
from famipose_jax.config import defaults as config_defaults
from famipose_jax.interop import torch_reference


BN_SCALE_RANGE = (0.25, 0.75) # BN gamma: keeps features of order one through the HRNet sums


def tiny_config(image_size=(64, 96)) -> ml_collections.ConfigDict:
  """The PoseTrack17 config with a tiny HRNet and a narrow FAMI-Pose head ([H, W] = 96 x 64).

  Every stage, a 3-step global transformation (24x16 -> 3x2) and 2 offset groups are kept.
  """
  config = config_defaults.published_config()
  m = config.model
  m.backbone = backbone_presets.hrnet_tiny()
  m.image_size = tuple(image_size)
  m.heatmap_size = (image_size[0] // 4, image_size[1] // 4)
  f = m.famipose
  f.gtm_channels = 4
  f.gtm_num_downsamples = 3             # 24x16 -> 3x2: a non-trivial flatten order
  f.gtm_hidden_features = (8, 8)
  f.dcn_offset_groups = 2
  return config


def randomize_(model: nn.Module, seed: int, translation_pixels: float = 1.0,
               offset_gain: float = 0.5, mask_gain: float = 1.3) -> None:
  """Fills every parameter and BN buffer with order-one random values (in place).

  Convolutions and Linears get N(0, gain^2/fan_in) weights: gain 1, except the global
  transformation's last Linear (translations of about `translation_pixels`; in 'affine' mode
  a matrix within ~0.05 of the identity plus such a translation), the DCN offset convolutions
  (`offset_gain`: offsets near a pixel, up to ~7) and the mask convolutions (`mask_gain`).
  Conditioning matters because float32 rounding is amplified by the network itself:
    * the published mask is raw, so each DCN stage is quadratic in its input (mask and
      samples both scale with it): features either die out or blow up along the four stages
      (with unit gains to ~60, where a float32 PyTorch run differs from a float64 one by
      1e-2 to 1e-1); `mask_gain` keeps them of order one;
    * warps and deformable taps turn an error in a predicted shift into an error of (spatial
      gradient) x (shift error), so features of ~15 (BN gamma around 1) give ~1e-4 in float32
      already; gamma in BN_SCALE_RANGE keeps them under ~8 and float32 under ~3e-5.
  BN also gets small beta and running statistics near (0, 1) (see calibrate_batch_norm_).
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
      uniform_(module.weight, BN_SCALE_RANGE[0], BN_SCALE_RANGE[1])
      normal_(module.bias, 0.1)
      normal_(module.running_mean, 0.1)
      uniform_(module.running_var, 0.5, 1.5)
      module.num_batches_tracked.fill_(7)
      continue
    if not isinstance(weight, torch.Tensor) or weight.ndim < 2:
      continue
    fan_in = math.prod(weight.shape[1:])
    gain = 1.0
    if name.startswith(('dcn_offset', 'offsets_list')):   # FAMI-Pose's, DCPose's
      gain = offset_gain
    elif name.startswith(('dcn_mask', 'masks_list')):
      gain = mask_gain
    if name == last_linear_name(model):
      gain = translation_pixels
    normal_(weight, gain / math.sqrt(fan_in))
    if getattr(module, 'bias', None) is not None:
      normal_(module.bias, 0.1)
    if name == last_linear_name(model) and weight.shape[0] == 6:  # affine [a b tx c d ty]
      with torch.no_grad():
        linear_part = torch.tensor([0, 1, 3, 4])
        weight[linear_part] *= 0.05 / translation_pixels
        module.bias[linear_part] += torch.tensor([1.0, 0.0, 0.0, 1.0])


def calibrate_batch_norm_(model: nn.Module, *inputs: torch.Tensor) -> None:
  """Sets every BN's running statistics to those of one forward pass on `inputs` (in place).

  Random running statistics let features grow layer after layer in eval mode; statistics of
  real activations keep them of order one, as in a trained network, so the 1e-4 comparisons
  measure the implementation and not the conditioning of an exploding random network.
  """
  norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
  momenta = [m.momentum for m in norms]
  was_training = model.training
  for m in norms:
    m.reset_running_stats()
    m.momentum = None  # cumulative average: exactly the statistics of this pass
  model.train()
  with torch.no_grad():
    model(*inputs)
  for m, momentum in zip(norms, momenta):
    m.momentum = momentum
  model.train(was_training)


def last_linear_name(model: nn.Module) -> str:
  """Name of the global transformation's output Linear ('' when there is none)."""
  names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
  return names[-1] if names else ''


def random_reference(config: ml_collections.ConfigDict, num_supporting: int,
                     seed: int) -> torch_reference.FamiPoseReference:
  model = torch_reference.FamiPoseReference(config.model, num_supporting=num_supporting)
  randomize_(model, seed)
  return model


# How far ours in float32 may be from the float64 reference: this many times the reference's own
# float32 error (for every output of the cross-checks, FAMI-Pose's and DCPose's).
FLOAT32_FACTOR = 2.5


def float32_error_ratios(ours: dict, own: dict, want: dict) -> dict[str, float]:
  """Per output: |ours - want| over |own - want| (max abs), ours and own float32, want float64.

  An output the reference's float32 computes exactly (the weights, the first layers) gets a floor
  of 8 float32 ulps of its magnitude in the denominator.
  """
  assert sorted(ours) == sorted(want) == sorted(own), (sorted(ours), sorted(own), sorted(want))
  ratios = {}
  for name, target in want.items():
    target = np.asarray(target, np.float64)
    error = float(np.abs(np.asarray(ours[name], np.float64) - target).max())
    theirs = float(np.abs(np.asarray(own[name], np.float64) - target).max())
    floor = 8 * np.finfo(np.float32).eps * max(float(np.abs(target).max()), 1.0)
    ratios[name] = error / max(theirs, floor)
  return ratios


def apply_in_dtype(model_config: ml_collections.ConfigDict, variables: Any, inputs: tuple,
                   dtype: str, train: bool) -> tuple[dict, dict]:
  """(outputs, mutated collections) of our model built with `dtype` ('float32', 'float64'),
  its variables and floating inputs cast to it (integer inputs as given), in eval or train mode,
  as numpy. A float64 run needs `float64()` around the call."""
  model_config = copy.deepcopy(model_config)
  model_config.dtype = dtype
  model = models.build_model(model_config)
  cast = np.float64 if dtype == 'float64' else np.float32
  variables = jax.tree_util.tree_map(lambda v: jnp.asarray(v, cast), variables)
  inputs = tuple(jnp.asarray(x, cast) if np.issubdtype(np.asarray(x).dtype, np.floating)
                 else jnp.asarray(x) for x in inputs)
  if train:
    apply = lambda v, *a: model.apply(v, *a, train=True, mutable=['batch_stats'])
  else:
    apply = lambda v, *a: (model.apply(v, *a, train=False), {})
  out, updates = jax.jit(apply)(variables, *inputs)
  return jax.device_get(out), jax.device_get(updates)


def running_statistics_error(exported: Mapping[str, Any],
                             state: Mapping[str, torch.Tensor]) -> tuple[list[str], float]:
  """(the running_mean / running_var keys of `exported`, the largest error of ours against the
  reference's `state`, relative to max(1, the statistic's magnitude): a backbone's running
  variances reach the hundreds)."""
  names = [k for k in exported if k.endswith(('running_mean', 'running_var'))]
  worst = max((float(np.abs(exported[k] - state[k].numpy()).max()
                     / max(1.0, float(np.abs(state[k].numpy()).max()))) for k in names),
              default=0.0)
  return names, worst


def float64() -> contextlib.AbstractContextManager:
  """A context in which JAX computes in float64 (jax.enable_x64; jax.experimental's in older
  releases), for the float64 cross-checks."""
  switch = getattr(jax, 'enable_x64', None)
  if switch is not None:
    return switch(True)
  from jax.experimental import enable_x64  # pylint: disable=g-import-not-at-top
  return enable_x64()
