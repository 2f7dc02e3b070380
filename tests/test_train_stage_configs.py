"""The smoke config the training tests run, and the pretraining stage derived from a config."""

import pytest

from configs import synthetic
from famipose_jax.config import schema as config_schema
from famipose_jax.train import datasets
from famipose_jax.train import stages


def test_smoke_config_is_valid_and_small():
  config = synthetic.get_config('smoke')
  config_schema.validate_config(config)
  assert tuple(config.model.image_size) == (32, 32)
  assert tuple(config.data.image_size) == (32, 32)          # shared FieldReference
  assert config.model.backbone.stage4.num_channels == (4, 8, 16, 32)
  assert config.train.pretrain_epochs == 0


def test_pretrain_stage_is_the_single_frame_baseline():
  config = synthetic.get_config()
  stage = stages.pretrain_config(config)
  config_schema.validate_config(stage)
  assert (stage.model.family, stage.model.freeze_backbone) == ('single_frame', False)
  assert 'famipose' not in stage.model   # no MI objective: the single-frame family has none
  assert tuple(stage.data.supporting_offsets) == ()
  assert stage.num_epochs == config.train.pretrain_epochs == 10
  assert tuple(stage.optim.lr_decay_epochs) == (8,)
  assert (stage.train.pretrain_epochs, stage.init_from) == (0, '')
  # The stage-2 config is untouched.
  assert tuple(config.data.supporting_offsets) == (-1, 1) and config.model.family == 'famipose'


def test_synthetic_variant_picks_or_checks_the_dataset(tmp_path):
  from data_pipeline import synthetic as generator
  root = str(tmp_path / 'data')
  generator.generate(root, workers=1, verbose=False, train_videos=1, val_videos=1, frames=4,
                     width=160, height=96)
  config = synthetic.get_config('smoke')
  config.data.root = root
  datasets.ensure_dataset(config)          # '' takes the dataset that is there, as it is
  config.data.synthetic_variant = 'tiny'  # a named variant wants exactly its settings
  with pytest.raises(generator.DatasetExistsError,
                     match=r"synthetic_variant='tiny': .* \{'frames': \(4, 6\)"):
    datasets.ensure_dataset(config)
  config.data.root = str(tmp_path / 'made')
  datasets.ensure_dataset(config)          # missing: generated with the variant's settings
  assert generator.read_manifest(config.data.root)['settings'] == (
      generator.variant('tiny').to_dict())


def test_a_workdir_recorded_before_a_field_existed_still_matches():
  from famipose_jax.checkpoints import workdir_binding
  current = workdir_binding.flat_config(synthetic.get_config('smoke'))
  older = {k: v for k, v in current.items() if k != 'data.synthetic_variant'}
  assert workdir_binding.config_differences(older, current) == []
  changed = dict(current, **{'data.synthetic_variant': 'tiny'})
  assert workdir_binding.config_differences(older, changed) == [
      "  data.synthetic_variant: '' in the workdir, 'tiny' now"]
