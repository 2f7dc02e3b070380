"""The single-frame HRNet as a model family: the key frame only, no section of its own."""

import ml_collections

from data_pipeline.errors import ConfigError
from famipose_jax.models import registry


def _build(model_config: ml_collections.ConfigDict):
  from famipose_jax.models.single_frame import network  # pylint: disable=g-import-not-at-top
  return network.SingleFrameHRNet(ml_collections.FrozenConfigDict(model_config))


def _check_run(config: ml_collections.ConfigDict) -> None:
  if config.model.freeze_backbone and config.model.head == 'heatmap':
    raise ConfigError("config.model.freeze_backbone=True with model.family='single_frame' "
                      'leaves nothing to train; set model.freeze_backbone=False for the '
                      'single-frame baseline')


FAMILY = registry.register(registry.ModelFamily(
    name='single_frame', label='single-frame HRNet', build=_build,
    inputs=(registry.KEY_IMAGE,), check_run=_check_run, scores_backbone=False,
    torch_naming=registry.TorchNaming(backbone='hrnet')))
