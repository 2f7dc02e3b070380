"""Experiment config files: `get_config()` of a Python file, as every command loads one.

`train.py --config=FILE[:variant]` (ml_collections' config_flags) and the other commands
(`--config FILE[:variant]` of predict, export_model, convert and the ablation study) take the
same spelling; the variant is passed to get_config, e.g. configs/posetrack18.py:local.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections

from data_pipeline.errors import UsageError
from famipose_jax.config import defaults as config_defaults


def split_variant(spec: str) -> tuple[str, str]:
  """('configs/x.py', 'local') of 'configs/x.py:local'; ('configs/x.py', '') without a variant."""
  path, colon, variant = spec.rpartition(':')
  if colon and path.endswith('.py') and '/' not in variant:
    return path, variant
  return spec, ''


def load_config_file(spec: str | None, variant: str = '') -> ml_collections.ConfigDict:
  """The config a file's get_config() returns (get_config(variant) for 'FILE:variant' or a
  given variant); None: the published config.

  Raises:
    UsageError: naming the file, when it is no Python file or defines no get_config().
  """
  if spec is None:
    return config_defaults.published_config()
  path, named = split_variant(spec)
  variant = variant or named
  loader_spec = importlib.util.spec_from_file_location('experiment_config', path)
  if loader_spec is None or loader_spec.loader is None or not os.path.isfile(path):
    raise UsageError(f'--config {path}: not a Python config file')
  module = importlib.util.module_from_spec(loader_spec)
  loader_spec.loader.exec_module(module)
  if not hasattr(module, 'get_config'):
    raise UsageError(f'--config {path}: defines no get_config()')
  return module.get_config(variant) if variant else module.get_config()
