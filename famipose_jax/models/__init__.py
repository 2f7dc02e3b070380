"""The networks: one folder per model family, the shared HRNet and its parts.

  registry.py       model families: the seam through which each plugs in
  inputs.py         what a network reads (its family's inputs and clip) and the pixels
  backbone_pass.py  the shared HRNet pass every family makes
  hrnet.py, blocks.py, batch_norm.py, initializers.py, simcc_classifier.py
  single_frame/ famipose/ dcpose/ tdmi/      the families, their files named as in the papers

The names below are imported on first use, so the registry stays importable without JAX.
"""

import importlib

_EXPORTS = {
    'build_model': ('famipose_jax.models.build', 'build_model'),
    'variable_shapes': ('famipose_jax.models.build', 'variable_shapes'),
    'HRNet': ('famipose_jax.models.hrnet', 'HRNet'),
}


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module, attribute = _EXPORTS[name]
  value = getattr(importlib.import_module(module), attribute)
  globals()[name] = value
  return value
