"""Helpers of the training tests: the smoke config, folder snapshots, a child process's env,
damaging a checkpoint's array data, editing the batches a training loader hands out, and how
close two train states are.

The fixtures these tests share (`compile_cache`, `tiny_dataset`) are in conftest.py.
"""

import glob
import os

import numpy as np

import data_pipeline
from configs import synthetic
from famipose_jax.config import defaults as config_defaults


def smoke_config(root: str, **overrides):
  """configs/synthetic.py:smoke on `root`; overrides are 'a.b': value pairs ('model.family'
  switches the family first, its section at its defaults)."""
  config = synthetic.get_config('smoke')
  config.data.root = root
  if 'model.family' in overrides:
    config = config_defaults.with_family(config, overrides['model.family'])
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


def flip_array_bytes(step_dir: str, count: int = 8) -> str:
  """Inverts `count` bytes in the middle of the largest array data file of a checkpoint.

  The largest file under state/ocdbt.process_0/d holds array chunks, so the flip changes array
  values (Orbax reads them back without complaint) rather than the index. Returns the file.
  """
  files = glob.glob(os.path.join(step_dir, 'state', 'ocdbt.process_*', 'd', '*'))
  path = max(files, key=os.path.getsize)
  middle = os.path.getsize(path) // 2
  with open(path, 'r+b') as f:
    f.seek(middle)
    original = f.read(count)
    f.seek(middle)
    f.write(bytes(b ^ 0xFF for b in original))
  return path


def edit_training_batches(monkeypatch, edit):
  """Training loaders hand out `edit(step index, fetch)`; `fetch()` returns the real batch.

  Evaluation loaders are left alone. Returns a function that puts the real loader back.
  """
  real_make_loader = data_pipeline.make_loader

  class Edited:

    def __init__(self, loader, start_step):
      self.loader, self.step = loader, start_step

    def __enter__(self):
      return self

    def __exit__(self, *exc):
      self.loader.close()

    def __next__(self):
      step, self.step = self.step, self.step + 1
      return edit(step, lambda: next(self.loader))

  def make_loader(data_config, dataset, **kwargs):
    loader = real_make_loader(data_config, dataset, **kwargs)
    return Edited(loader, kwargs['start_step']) if kwargs['train'] else loader

  monkeypatch.setattr(data_pipeline, 'make_loader', make_loader)
  return lambda: monkeypatch.setattr(data_pipeline, 'make_loader', real_make_loader)


# How close two runs of the same steps on different device layouts must end (the 1-vs-4-device
# test and the multi-process tests): relative to each leaf's scale, |a - c| <= ATOL + rtol *
# max|c|. Not elementwise: a cross-device all-reduce sums gradients in another order, and that
# float32 noise is relative to the summed terms, so entries near zero (an Adam moment of a
# weight with a tiny gradient) carry errors far above their own size.
RTOL, ATOL = 1e-4, 1e-6
# Adam's moments hold raw gradients, which are sensitive to summation order in a few layers:
# merely permuting the batch on one device moves the first step's gradient of the
# init_feature_agg_block by 1e-5 of the leaf's scale (4 devices: 3e-5), and by the third step
# such differences reach ~1e-2 of scale in the alignment blocks' moments, while parameters and
# losses stay within RTOL.
RTOL_MOMENTS = 3e-2


def tolerance_ratios(reference, other) -> list[tuple[str, float, float]]:
  """[(leaf path, |a - c| / (ATOL + rtol * max|c|), max|a - c|)] over two states' leaves.

  A ratio <= 1 is within tolerance; optimiser-state leaves (`.opt_state...`) use RTOL_MOMENTS.
  Both states must have the same structure (host or device arrays).
  """
  import jax  # pylint: disable=g-import-not-at-top (a child process may set XLA_FLAGS first)
  leaves, treedef = jax.tree_util.tree_flatten_with_path(reference)
  others = treedef.flatten_up_to(other)
  out = []
  for (path, a), c in zip(leaves, others):
    a, c = np.asarray(a, np.float64), np.asarray(c, np.float64)
    name = jax.tree_util.keystr(path)
    rtol = RTOL_MOMENTS if name.startswith('.opt_state') else RTOL
    diff = float(np.max(np.abs(a - c), initial=0.0))
    out.append((name, float(diff / (ATOL + rtol * np.max(np.abs(c), initial=0.0))), diff))
  return out
