"""The atomic file writer: both JSON forms, replacing a file, and a failed write leaving no trace."""

import json
import os

import pytest

from data_pipeline import atomic_files


def test_readable_json_is_indented_sorted_and_ends_with_a_newline(tmp_path):
  path = str(tmp_path / 'sub' / 'record.json')
  atomic_files.write_json_atomic(path, {'b': 1, 'a': [1, 2]})
  with open(path, encoding='utf-8') as f:
    text = f.read()
  assert text == json.dumps({'a': [1, 2], 'b': 1}, indent=1, sort_keys=True) + '\n'


def test_compact_json_keeps_key_order_on_one_line(tmp_path):
  path = str(tmp_path / 'video.json')
  atomic_files.write_json_atomic(path, {'b': 1, 'a': 2}, compact=True)
  with open(path, encoding='utf-8') as f:
    assert f.read() == '{"b": 1, "a": 2}'


def test_replaces_an_existing_file_and_leaves_no_temporary_file(tmp_path):
  path = str(tmp_path / 'v.json')
  atomic_files.write_json_atomic(path, {'version': 1})
  atomic_files.write_json_atomic(path, {'version': 2})
  with open(path, encoding='utf-8') as f:
    assert json.load(f) == {'version': 2}
  assert os.listdir(tmp_path) == ['v.json']


@pytest.mark.parametrize('document, allow_nan', [({'x': float('nan')}, False),
                                                 ({'x': object()}, True)])
def test_a_failed_write_keeps_the_old_file(tmp_path, document, allow_nan):
  path = str(tmp_path / 'v.json')
  atomic_files.write_json_atomic(path, {'version': 1})
  with pytest.raises((ValueError, TypeError)):
    atomic_files.write_json_atomic(path, document, allow_nan=allow_nan)
  with open(path, encoding='utf-8') as f:
    assert json.load(f) == {'version': 1}
  assert os.listdir(tmp_path) == ['v.json']


def test_bytes_are_written_as_given(tmp_path):
  path = str(tmp_path / 'image.png')
  atomic_files.write_bytes_atomic(path, b'\x89PNG\r\n')
  with open(path, 'rb') as f:
    assert f.read() == b'\x89PNG\r\n'
