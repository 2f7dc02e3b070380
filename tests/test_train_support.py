"""Shared pieces of the training tests: a tiny synthetic dataset, the smoke config, a compile cache.

Other test_train_* modules import the fixtures from here. The persistent XLA compilation cache
is shared by the xdist workers and the subprocess tests, so the smoke model's train step is
compiled once per program, not once per test.
"""

import os

import jax
import pytest

from configs import synthetic
from famipose_jax import config_schema
from famipose_jax import trainer

TINY_DATASET = dict(train_videos=2, val_videos=1, frames=8, width=160, height=96, seed=0)


def _shared_tmp(tmp_path_factory):
  """A folder shared by all xdist workers of this session (the per-worker base's parent)."""
  base = tmp_path_factory.getbasetemp()
  return base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base


@pytest.fixture(scope='session')
def compile_cache(tmp_path_factory):
  """Turns on JAX's persistent compilation cache for this process; yields its folder."""
  folder = str(_shared_tmp(tmp_path_factory) / 'jax_compile_cache')
  os.makedirs(folder, exist_ok=True)
  previous = (jax.config.jax_compilation_cache_dir,
              jax.config.jax_persistent_cache_min_compile_time_secs)
  jax.config.update('jax_compilation_cache_dir', folder)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  yield folder
  jax.config.update('jax_compilation_cache_dir', previous[0])
  jax.config.update('jax_persistent_cache_min_compile_time_secs', previous[1])


@pytest.fixture(scope='session')
def tiny_dataset(tmp_path_factory):
  """Root of a 2+1-video synthetic dataset (160x96 frames), generated once per worker."""
  from data_pipeline import synthetic as generator  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('tiny_synthetic') / 'data'
  generator.generate(str(root), workers=1, verbose=False, **TINY_DATASET)
  return str(root)


def smoke_config(root: str, **overrides):
  """configs/synthetic.py:smoke on `root`; overrides are 'a.b': value pairs."""
  config = synthetic.get_config('smoke')
  config.data.root = root
  for name, value in overrides.items():
    node = config
    *parents, leaf = name.split('.')
    for part in parents:
      node = node[part]
    node[leaf] = value
  return config


def snapshot_files(folder: str) -> dict:
  """{relative path: bytes} of every file under `folder` (to show that nothing changed)."""
  out = {}
  for root, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, folder)] = f.read()
  return out


def subprocess_env(cache_dir: str) -> dict:
  """Environment for a child `python train.py`: repo on the path, the shared compile cache."""
  env = dict(os.environ)
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env['PYTHONPATH'] = repo + os.pathsep + env.get('PYTHONPATH', '')
  env['JAX_COMPILATION_CACHE_DIR'] = cache_dir
  env['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'
  env['JAX_PLATFORMS'] = 'cpu'
  return env


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
