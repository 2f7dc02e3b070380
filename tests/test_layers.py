"""The package layers: arrows point one way, configs -> famipose_jax -> data_pipeline."""

import ast
import os

from tests.library_sources import library_files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imported_modules(path: str) -> set[str]:
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read(), path)
  names = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names.add(node.module)
  return names


def test_the_data_pipeline_imports_nothing_from_famipose_jax():
  offending = {os.path.relpath(path, REPO): sorted(m for m in _imported_modules(path)
                                                   if m.split('.')[0] == 'famipose_jax')
               for path in library_files() if '/data_pipeline/' in path}
  assert {path: names for path, names in offending.items() if names} == {}


def test_the_layer_check_sees_imports_inside_functions(tmp_path):
  module = tmp_path / 'lazy.py'
  module.write_text('def f():\n  from famipose_jax.heads import heatmap\n  import famipose_jax\n')
  assert _imported_modules(str(module)) == {'famipose_jax.heads', 'famipose_jax'}
