"""HRNet backbone presets: the `model.backbone` config sections models/hrnet.py builds.

The published width 48 and the small widths our tests and CPU demo use. Pure Python (no JAX),
so that the config defaults and schema, which data_pipeline imports, can use it.
"""

import ml_collections


def hrnet(width: int = 48, blocks: int = 4, modules=(1, 4, 3),
          stem_channels: int = 64, layer1_planes: int = 64,
          layer1_blocks: int = 4) -> ml_collections.ConfigDict:
  """HRNet-W`width` as in the official pose configs (W48: branches 48, 96, 192, 384).

  `blocks` is the number of BasicBlocks per branch in every module, `modules` the number of
  multi-resolution modules in stages 2, 3, 4. Tiny test models shrink all of them.
  """
  c = ml_collections.ConfigDict()
  c.stem_channels = stem_channels          # two 3x3 stride-2 convs, 3 -> 64 -> 64
  c.layer1_planes = layer1_planes          # Bottleneck planes; outputs 4x this (256)
  c.layer1_blocks = layer1_blocks
  c.stage2 = ml_collections.ConfigDict(dict(
      num_modules=modules[0], num_blocks=(blocks,) * 2,
      num_channels=(width, 2 * width)))
  c.stage3 = ml_collections.ConfigDict(dict(
      num_modules=modules[1], num_blocks=(blocks,) * 3,
      num_channels=(width, 2 * width, 4 * width)))
  c.stage4 = ml_collections.ConfigDict(dict(
      num_modules=modules[2], num_blocks=(blocks,) * 4,
      num_channels=(width, 2 * width, 4 * width, 8 * width)))
  c.final_conv_kernel = 1                  # final_layer: 1x1 conv width -> joints, with bias
  c.bn_momentum = 0.9                      # PyTorch momentum 0.1
  c.bn_epsilon = 1e-5
  return c


def hrnet_tiny() -> ml_collections.ConfigDict:
  """A width-8 HRNet (175,389 parameters) with every stage present, for tests and CPU runs."""
  return hrnet(width=8, blocks=1, modules=(1, 1, 1), stem_channels=16, layer1_planes=8,
               layer1_blocks=1)


def hrnet_small() -> ml_collections.ConfigDict:
  """A width-12 HRNet, two blocks per branch (684,725 parameters for 17 joints): the CPU demo's."""
  return hrnet(width=12, blocks=2, modules=(1, 1, 1), stem_channels=24, layer1_planes=12,
               layer1_blocks=2)
