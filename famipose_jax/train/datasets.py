"""The dataset a run reads: checked before anything is written, generated when synthetic."""

from __future__ import annotations

import os

import jax
import ml_collections

from famipose_jax import errors
from famipose_jax.runtime import progress


def ensure_dataset(config: ml_collections.ConfigDict):
  """Checks data.root; generates the synthetic dataset there when it is configured and absent.

  data.synthetic_variant '' takes any synthetic dataset found at root (and generates the
  'default' settings when there is none); a named variant must find exactly its settings, and a
  folder made with others is refused (DatasetExistsError names the settings that differ).
  """
  if config.data.dataset != 'synthetic':
    if not os.path.isdir(config.data.root):
      raise errors.MissingInputError(
          f'config.data.root={config.data.root!r} is not a folder (the '
          f'{config.data.dataset} dataset; see README "Data layout")')
    return
  from data_pipeline import synthetic  # pylint: disable=g-import-not-at-top
  name = config.data.synthetic_variant
  missing = synthetic.read_manifest(config.data.root) is None
  if not missing and not name:
    return
  if missing:
    if jax.process_count() > 1:
      raise errors.MissingInputError(
          f'synthetic dataset missing at {config.data.root}; generate it '
          'once with `python -m data_pipeline.synthetic --out DIR` before a '
          'multi-process run')
    progress.say(f'synthetic dataset not found at {config.data.root}: generating it '
        f'(settings {name or "default"!r})')
  try:
    synthetic.generate(config.data.root, verbose=missing and jax.process_index() == 0,
                       **synthetic.variant(name or 'default').to_dict())
  except synthetic.DatasetExistsError as e:
    raise synthetic.DatasetExistsError(
        f'config.data.synthetic_variant={name!r}: {e} (For training: use another data.root, '
        'or remove that folder to have it generated.)') from e
