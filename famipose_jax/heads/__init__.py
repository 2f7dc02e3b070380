"""What the network's final maps mean: each head's codec (targets <-> joints), loss and flip.

`build_head(config)` is the one place that reads config.model.head. The heatmap codec also
decodes the backbone's own heatmaps in temporal mode and supplies the MI critic's targets,
whatever the head.
"""

from __future__ import annotations

import ml_collections

from famipose_jax.config import schema as config_schema

from famipose_jax.heads.heatmap import HeatmapCodec, HeatmapHead
from famipose_jax.heads.simcc import SimCCCodec, SimCCHead


def heatmap_codec(config: ml_collections.ConfigDict) -> HeatmapCodec:
  """The Gaussian heatmap codec of an experiment config (data targets, eval decoding)."""
  return HeatmapCodec(
      image_size=tuple(config.model.image_size), heatmap_size=tuple(config.model.heatmap_size),
      sigma=float(config.data.sigma), quarter_step=float(config.eval.quarter_offset),
      dark=bool(config.eval.dark), dark_kernel_size=int(config.eval.dark_kernel_size))


def simcc_codec(config: ml_collections.ConfigDict) -> SimCCCodec:
  return SimCCCodec(image_size=tuple(config.model.image_size),
                    split_ratio=float(config.model.simcc_split_ratio),
                    sigma=float(config.data.simcc_sigma))


def build_head(config: ml_collections.ConfigDict) -> HeatmapHead | SimCCHead:
  """The head config.model.head names, with its codec and its loss settings from config.loss."""
  l = config.loss
  if config.model.head == 'heatmap':
    return HeatmapHead(heatmap_codec(config), loss_weight=float(l.heatmap_weight),
                       use_target_weight=bool(l.use_target_weight))
  if config.model.head == 'simcc':
    return SimCCHead(simcc_codec(config), beta=float(l.simcc_beta),
                     label_softmax=bool(l.simcc_label_softmax),
                     use_target_weight=bool(l.use_target_weight),
                     batch_reduction=l.simcc_batch_reduction)
  config_schema.check_choice('model.head', config.model.head)
  raise AssertionError(f'no head built for model.head={config.model.head!r}')
