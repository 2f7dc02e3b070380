"""Reading JSON annotation files with errors that name the file and the place it broke."""

from __future__ import annotations

import json
import math
import os

from data_pipeline.bad_input import BadInputError


def read_json(path: str):
  """Parses a JSON file; a missing, empty, truncated or malformed file raises BadInputError."""
  if not os.path.isfile(path):
    raise BadInputError(f'{path}: file not found')
  with open(path, 'rb') as f:
    raw = f.read()
  if not raw.strip():
    raise BadInputError(f'{path}: file is empty')
  try:
    return json.loads(raw)
  except UnicodeDecodeError as e:
    raise BadInputError(f'{path}: not UTF-8 text ({e})') from None
  except json.JSONDecodeError as e:
    truncated = ' (the file looks truncated)' if e.pos >= len(raw.rstrip()) else ''
    raise BadInputError(f'{path}: malformed JSON at line {e.lineno} column {e.colno}: '
                        f'{e.msg}{truncated}') from None


def require_list(data, key: str, path: str) -> list:
  """data[key] of a top-level JSON object, which must be a list (else BadInputError)."""
  if not isinstance(data, dict):
    raise BadInputError(f'{path}: the top level should be a JSON object, got '
                        f'{type(data).__name__}')
  if key not in data:
    raise BadInputError(f'{path}: no top-level field {key!r} (fields: {sorted(data)[:12]})')
  if not isinstance(data[key], list):
    raise BadInputError(f'{path}: field {key!r} should be a list, got {type(data[key]).__name__}')
  return data[key]


def missing_field(record, keys) -> str | None:
  """The first of `keys` that `record` lacks ('<not an object>' if it is no dict), or None."""
  if not isinstance(record, dict):
    return '<not an object>'
  for key in keys:
    if key not in record:
      return key
  return None


def finite_numbers(value, length: int | None) -> bool:
  """Whether `value` is a list of `length` finite numbers (any length if None)."""
  if not isinstance(value, (list, tuple)):
    return False
  if length is not None and len(value) != length:
    return False
  for v in value:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
      return False
  return True
