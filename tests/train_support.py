"""Helpers of the training tests: the smoke config, folder snapshots, a child process's env.

The fixtures these tests share (`compile_cache`, `tiny_dataset`) are in conftest.py.
"""

import os

from configs import synthetic


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
