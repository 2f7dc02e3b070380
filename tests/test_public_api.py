"""The names `famipose_jax` exports: all resolve, and importing the package stays cheap."""

import os
import subprocess
import sys

import famipose_jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_exported_name_resolves_to_what_its_module_defines():
  assert len(famipose_jax.__all__) == 23
  for name in famipose_jax.__all__:
    assert getattr(famipose_jax, name) is not None, name
  from famipose_jax.inference import predictor   # pylint: disable=g-import-not-at-top
  assert famipose_jax.Predictor is predictor.Predictor
  assert 'Predictor' in dir(famipose_jax)


def test_importing_the_package_loads_neither_jax_nor_tensorflow():
  code = ('import sys, famipose_jax; '
          'print(sorted(m for m in ("jax", "flax", "tensorflow") if m in sys.modules))')
  env = dict(os.environ, PYTHONPATH=REPO)
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                       check=True, cwd=REPO).stdout
  assert out.strip() == '[]'


def test_an_unknown_name_is_an_attribute_error():
  try:
    famipose_jax.Predicter   # pylint: disable=pointless-statement
  except AttributeError as e:
    assert "has no attribute 'Predicter'" in str(e)
  else:
    raise AssertionError('no AttributeError')
