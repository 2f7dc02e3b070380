"""config.model.family: each family's own section, switching families, records from before."""

import json
import os

import pytest

from configs import posetrack17
from configs import synthetic
from famipose_jax.checkpoints import workdir_binding
from famipose_jax.config import defaults as config_defaults
from famipose_jax.config import legacy
from famipose_jax.config import schema as config_schema
from famipose_jax.models import registry

FIXTURE_RECORD = os.path.join(os.path.dirname(__file__), 'fixtures', 'synthetic_famipose',
                              'config.json')


def test_the_published_config_is_fami_pose_with_its_section_only():
  config = config_defaults.published_config()
  assert config.model.family == 'famipose'
  assert [n for n in registry.names() if n in config.model] == ['famipose']
  assert config.model.famipose.global_transform == 'translation'
  assert config.model.famipose.mi == 'published'
  assert 'mi' not in config.loss and 'temporal' not in config.model


def test_switching_families_swaps_sections_and_keeps_the_rest():
  config = posetrack17.get_config()
  config.batch_size = 7
  single = config_defaults.with_family(config, 'single_frame')
  assert single.model.family == 'single_frame' and 'famipose' not in single.model
  assert single.batch_size == 7 and config.model.family == 'famipose'   # a copy
  single.model.image_size = (96, 128)                    # shared sizes stay shared
  assert tuple(single.data.image_size) == (96, 128)
  back = config_defaults.with_family(single, 'famipose')
  published = config_defaults.published_config()
  assert back.model.famipose.to_dict() == published.model.famipose.to_dict()


def test_an_override_of_the_family_adopts_its_section():
  config = synthetic.get_config('smoke')
  config.model.family = 'single_frame'                   # as --config.model.family= does
  with pytest.raises(config_schema.ConfigError,
                     match=r"config.model.famipose is the section of model family 'famipose', "
                     r"but config.model.family='single_frame'"):
    config_schema.validate_config(config)
  adopted, note = config_defaults.adopt_family(config)
  assert note == "model.family='single_frame': dropped config.model.famipose"
  assert 'famipose' not in adopted.model and 'famipose' in config.model
  assert config_defaults.adopt_family(adopted) == (adopted, '')
  adopted.model.freeze_backbone = False
  config_schema.validate_config(adopted)


def test_unknown_families_and_missing_sections_are_named():
  config = posetrack17.get_config()
  config.model.family = 'nope'
  with pytest.raises(config_schema.ConfigError, match=r"config.model.family='nope' is not one "
                     r"of \('single_frame', 'famipose'"):
    config_schema.validate_config(config)
  single = config_defaults.with_family(posetrack17.get_config(), 'single_frame')
  single.model.family = 'famipose'
  with pytest.raises(config_schema.ConfigError, match=r"config.model.family='famipose' needs "
                     r'its section config.model.famipose'):
    config_schema.validate_model_section(single.model)


def test_a_record_written_before_model_families_reads_as_the_config_it_was():
  with open(FIXTURE_RECORD, encoding='utf-8') as f:
    recorded = json.load(f)['config']
  assert recorded['model.temporal'] is True and 'model.family' not in recorded   # the old names
  config = workdir_binding.config_from_record(recorded, FIXTURE_RECORD)
  assert config.model.family == 'famipose'
  assert config.model.famipose.gtm_channels == recorded['model.gtm_channels']
  assert config.model.famipose.mi == recorded['loss.mi']
  assert workdir_binding.config_differences(recorded, workdir_binding.flat_config(config)) == []


def test_an_old_single_frame_record_drops_fami_poses_fields():
  old = {'model.temporal': False, 'model.head': 'heatmap', 'model.gtm_channels': 8,
         'loss.mi': 'none', 'loss.heatmap_weight': 1.0, 'data.supporting_offsets': []}
  assert legacy.upgrade_record(old) == {'model.family': 'single_frame', 'model.head': 'heatmap',
                                        'loss.heatmap_weight': 1.0,
                                        'data.supporting_offsets': []}
  current = {'model.family': 'famipose', 'model.famipose.mi': 'none'}
  assert legacy.upgrade_record(current) == current


def test_a_workdir_of_the_old_stage_one_matches_todays_stage_one(tmp_path):
  """A demo workdir's pretrain/config.json written before model families still resumes."""
  from famipose_jax.train import stages  # pylint: disable=g-import-not-at-top
  stage1 = stages.pretrain_config(synthetic.get_config())
  today = workdir_binding.flat_config(stage1)
  old = {name: value for name, value in today.items() if name != 'model.family'}
  old.update({'model.temporal': False, 'loss.mi': 'none', 'model.gtm_channels': 8})
  os.makedirs(tmp_path / 'pretrain')
  with open(tmp_path / 'pretrain' / workdir_binding.CONFIG_FILE, 'w', encoding='utf-8') as f:
    json.dump({'config': old}, f)
  workdir_binding.bind_workdir(str(tmp_path / 'pretrain'), stage1, write=False)
