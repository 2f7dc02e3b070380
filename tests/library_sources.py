"""The library's own Python files (famipose_jax/, data_pipeline/), for tests that read them."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('famipose_jax', 'data_pipeline')


def library_files():
  """Paths of every .py file of the library packages, in a fixed order."""
  for package in PACKAGES:
    for folder, _, files in sorted(os.walk(os.path.join(REPO, package))):
      for name in sorted(files):
        if name.endswith('.py'):
          yield os.path.join(folder, name)


def library_sources():
  """(path, text) of every library file."""
  for path in library_files():
    with open(path, encoding='utf-8') as f:
      yield path, f.read()
