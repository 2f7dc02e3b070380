"""Repository root on the import path, and the fixtures several test modules share.

`compile_cache` and `tiny_dataset` serve the training tests (test_train_*). The persistent XLA
compilation cache is shared by the xdist workers and the subprocess tests, so the smoke model's
train step is compiled once per program, not once per test.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position (the path above comes first)
import jax
import pytest

# A 2+1-video synthetic dataset of 160x96 frames: the smallest the training tests can use.
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
