"""The smoke config the training tests run, and the pretraining stage derived from a config."""

from configs import synthetic
from famipose_jax import config_schema
from famipose_jax import trainer


def test_smoke_config_is_valid_and_small():
  config = synthetic.get_config('smoke')
  config_schema.validate_config(config)
  assert tuple(config.model.image_size) == (32, 32)
  assert tuple(config.data.image_size) == (32, 32)          # shared FieldReference
  assert config.model.backbone.stage4.num_channels == (4, 8, 16, 32)
  assert config.train.pretrain_epochs == 0


def test_pretrain_stage_is_the_single_frame_baseline():
  config = synthetic.get_config()
  stage = trainer.pretrain_config(config)
  config_schema.validate_config(stage)
  assert (stage.model.temporal, stage.model.freeze_backbone, stage.loss.mi) == (False, False, 'none')
  assert tuple(stage.data.supporting_offsets) == ()
  assert stage.num_epochs == config.train.pretrain_epochs == 10
  assert tuple(stage.optim.lr_decay_epochs) == (8,)
  assert (stage.train.pretrain_epochs, stage.init_from) == (0, '')
  # The stage-2 config is untouched.
  assert tuple(config.data.supporting_offsets) == (-1, 1) and config.model.temporal
