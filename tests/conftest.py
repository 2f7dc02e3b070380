"""Repository root on the import path, and the fixtures several test modules share.

`compile_cache` turns on JAX's persistent compilation cache for every test, in a folder kept
between runs (FAMIPOSE_TEST_COMPILE_CACHE, default ~/.cache/famipose-jax/test-compile-cache;
JAX keys its entries by program, options and version, so a stale entry is never used): the
xdist workers and the subprocess tests share it, a program is compiled once per machine, not
once per test or per run. `tiny_dataset` serves the training tests (test_train_*).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position (the path above comes first)
import jax
import pytest

from famipose_jax.runtime import compile_cache as commands_compile_cache

# A 2+1-video synthetic dataset of 160x96 frames: the smallest the training tests can use.
TINY_DATASET = dict(train_videos=2, val_videos=1, frames=8, width=160, height=96, seed=0)


COMPILE_CACHE_ENV = 'FAMIPOSE_TEST_COMPILE_CACHE'


def compile_cache_folder() -> str:
  return (os.environ.get(COMPILE_CACHE_ENV)
          or os.path.join(commands_compile_cache.cache_home(), 'test-compile-cache'))


@pytest.fixture(scope='session', autouse=True)
def compile_cache():
  """Turns on JAX's persistent compilation cache for this process; yields its folder."""
  folder = compile_cache_folder()
  os.makedirs(folder, exist_ok=True)
  settings = {'jax_compilation_cache_dir': folder,
              'jax_persistent_cache_min_compile_time_secs': 0.0}
  previous = {name: getattr(jax.config, name) for name in settings}
  for name, value in settings.items():
    jax.config.update(name, value)
  yield folder
  for name, value in previous.items():
    jax.config.update(name, value)


@pytest.fixture(scope='session')
def tiny_dataset(tmp_path_factory):
  """Root of a 2+1-video synthetic dataset (160x96 frames), generated once per worker."""
  from data_pipeline import synthetic as generator
  root = tmp_path_factory.mktemp('tiny_synthetic') / 'data'
  generator.generate(str(root), workers=1, verbose=False, **TINY_DATASET)
  return str(root)


# One held-out val video at the demo's frame size (seed 0 made the demo's and the prediction
# fixture's training data).
HELD_OUT_VIDEO = dict(train_videos=0, val_videos=1, frames=10, width=480, height=270, seed=11)


@pytest.fixture(scope='session')
def held_out_video(tmp_path_factory):
  """Root of a one-video synthetic val split the prediction fixture never saw."""
  from data_pipeline import synthetic as generator
  root = tmp_path_factory.mktemp('held_out') / 'data'
  generator.generate(str(root), workers=1, verbose=False, **HELD_OUT_VIDEO)
  return str(root)
