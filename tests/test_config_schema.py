"""The config schema: every experiment config passes it, and what it refuses it names."""

import os
import subprocess
import sys

import ml_collections
import pytest

from configs import hrnet_w48_posetrack17
from configs import posetrack17
from configs import posetrack17_simcc
from configs import posetrack18
from configs import posetrack21
from configs import synthetic
from famipose_jax.config import defaults as config_defaults
from famipose_jax.config import schema as config_schema
from tests.library_sources import library_sources

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize('make_config', [
    posetrack17.get_config,
    config_defaults.published_config,
    *[lambda module=module, variant=variant: module.get_config(variant)
      for module in (posetrack17, posetrack17_simcc, hrnet_w48_posetrack17, posetrack18,
                     posetrack21)
      for variant in ('', 'local')],
    synthetic.get_config,
    lambda: synthetic.get_config('smoke'),
])
def test_every_experiment_config_is_valid(make_config):
  config_schema.validate_config(make_config())


def test_shared_sizes_that_disagree_are_refused():
  config = synthetic.get_config('smoke')
  config.data = ml_collections.ConfigDict(config.data.to_dict())   # no FieldReference any more
  config.data.image_size = (64, 64)
  with pytest.raises(config_schema.ConfigError,
                     match=r'config.model.image_size=\(32, 32\) and '
                           r'config.data.image_size=\(64, 64\) differ'):
    config_schema.validate_config(config)


def test_closed_sets_and_rules_name_the_field():
  config = posetrack17.get_config()
  config.data.crop_convention = 'size_plus_one'
  with pytest.raises(config_schema.ConfigError,
                     match=r"config.data.crop_convention='size_plus_one' is not one of"):
    config_schema.validate_config(config)
  config = posetrack17.get_config()
  config.data.worker_start_method = 'fork'
  with pytest.raises(config_schema.ConfigError, match='fork is unsafe'):
    config_schema.validate_config(config)
  config = posetrack17.get_config()
  config.data.mean = (0.5,)
  with pytest.raises(config_schema.ConfigError, match='config.data.mean and config.data.std'):
    config_schema.validate_config(config)
  config = posetrack17.get_config()
  config.model.famipose.dcn_offset_groups = 5
  with pytest.raises(config_schema.ConfigError, match='config.model.famipose.dcn_offset_groups=5'):
    config_schema.validate_config(config)


def test_every_closed_set_field_exists():
  flat = config_schema.flatten(config_defaults.published_config().to_dict())
  for field, allowed in config_schema.CHOICES.items():
    assert flat[field] in allowed, field


def test_the_library_stands_without_the_experiment_configs():
  for path, text in library_sources():
    assert 'from configs' not in text and 'import configs' not in text, path


def test_the_data_pipeline_and_the_schema_do_not_import_jax():
  code = ('import sys, data_pipeline.dataset, data_pipeline.loaders, famipose_jax.config.schema; '
          "print('jax' in sys.modules)")
  result = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True,
                          check=True)
  assert result.stdout.strip() == 'False'


def test_a_joint_count_the_data_layout_cannot_supply_names_the_model_field():
  config = posetrack17.get_config()
  config.model.num_joints = 15       # shared with config.data.num_joints
  match = (r'config.model.num_joints=15 \(shared with config.data.num_joints\): the data '
           r'pipeline fills the 17 joint slots of data_pipeline/joints.py')
  with pytest.raises(config_schema.ConfigError, match=match):
    config_schema.validate_config(config)
  with pytest.raises(config_schema.ConfigError, match=match):
    config_schema.validate_data_section(config.data, loader=False)


@pytest.mark.parametrize('field, value, message', [
    ('optim.learning_rate', -1e-3, r'config\.optim\.learning_rate=-0\.001 must be > 0'),
    ('optim.learning_rate', 0.0, r'must be > 0'),
    ('optim.b2', 1.0, r'config\.optim\.b2=1\.0 must be in \[0, 1\)'),
    ('data.flip_prob', 1.5, r'must be a probability'),
    ('data.sigma', 0.0, r'config\.data\.sigma=0\.0 must be > 0'),
    ('optim.weight_decay', -0.1, r'must be >= 0'),
    ('data.supporting_offsets', ('a', 'b'), r'integer frame offsets'),
])
def test_bounds_name_the_field_and_value(field, value, message):
  config = posetrack17.get_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(config_schema.ConfigError, match=message):
    config_schema.validate_config(config)


def test_an_input_hrnet_cannot_halve_five_times_is_refused():
  config = posetrack17.get_config()
  config.model.image_size = (48, 48)
  config.model.heatmap_size = (12, 12)
  with pytest.raises(config_schema.ConfigError,
                     match=r'config\.model\.image_size=\(48, 48\): expected multiples of 32'):
    config_schema.validate_config(config)
