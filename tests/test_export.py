"""famipose_jax.export.jax_export: a file that runs the model in a program that has only jax.

One export per case (both heads, temporal and single-frame, one with the flip test) and
one child process that loads and runs them all: compiling is the cost here, so each function
compiles once in this process and once in the child.
"""

import hashlib
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from famipose_jax.runtime import compiler_options
from famipose_jax import experiment as experiment_lib
from famipose_jax.export import jax_export as export
from tests.export_support import assert_coords_decode_own_outputs, flatten, random_batch
from tests.export_support import random_variables
from tests.train_support import smoke_config, subprocess_env

BATCH = 2
# name: (config overrides, export batch_size): the single-frame SimCC file has a fixed batch.
# The flip test (twice the network to compile) in the cheapest case only.
CASES = {
    'heatmap_temporal': ({'model.head': 'heatmap', 'model.family': 'famipose',
                          'eval.flip_test': False}, None),
    'heatmap_single': ({'model.head': 'heatmap', 'model.family': 'single_frame',
                        'eval.flip_test': False}, None),
    'simcc_temporal': ({'model.head': 'simcc', 'model.family': 'famipose',
                        'eval.flip_test': False}, None),
    'simcc_single': ({'model.head': 'simcc', 'model.family': 'single_frame',
                      'eval.flip_test': True}, BATCH),
}
# Run at a second batch size in the child, to show the symbolic batch dimension.
OTHER_BATCH = ('heatmap_single', 3)

CHILD = """
import json, sys
import jax
import numpy as np
from famipose_jax.export import jax_export as export
jobs = json.loads(sys.argv[1])
for path, inputs, outputs in jobs:
  result = export.load_inference(path)(dict(np.load(inputs)))
  flat = {'/'.join(k.key for k in p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(result)[0]}
  np.savez(outputs, **flat)
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('famipose_jax', 'flax'))))
"""


@pytest.fixture(scope='module')
def exports(tmp_path_factory, compile_cache):
  """({case: dict(experiment, variables, path, header, batch, expected, got)}, the child's
  famipose_jax and flax modules, the child's outputs at OTHER_BATCH).

  `got` comes from the child process, `expected` from the same function jitted here with the
  weights as constants (for 'heatmap_single' also `expected_with_arguments`, the weights as
  arguments as in eval_loop). The child runs while this process compiles: two cores, half
  the wait.
  """
  folder = tmp_path_factory.mktemp('export')
  cases, jobs = {}, []
  for name, (overrides, batch_size) in CASES.items():
    experiment = experiment_lib.Experiment(smoke_config(str(folder / 'no_data'), **overrides))
    variables = random_variables(experiment)
    path = str(folder / f'{name}.export')
    header = export.export_inference(experiment, variables, path, batch_size=batch_size)
    batch = random_batch(experiment, BATCH)
    cases[name] = dict(experiment=experiment, variables=variables, path=path, header=header,
                       batch=batch)
    batches = {BATCH: batch}
    if name == OTHER_BATCH[0]:   # the same crops, and more
      more = random_batch(experiment, OTHER_BATCH[1] - BATCH, seed=2)
      batches[OTHER_BATCH[1]] = {k: np.concatenate([batch[k], more[k]]) for k in batch}
    for size, inputs in batches.items():
      inputs_file = str(folder / f'{name}_{size}_in.npz')
      np.savez(inputs_file, **inputs)
      jobs.append((path, inputs_file, str(folder / f'{name}_{size}.npz')))
  child = subprocess.Popen([sys.executable, '-c', CHILD, json.dumps(jobs)],
                           env=subprocess_env(compile_cache), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
  try:
    for name, case in cases.items():
      predict = case['experiment'].predict_fn(raw_outputs=True)
      variables = case['variables']
      constants = compiler_options.jit(lambda b, p=predict, v=variables: p(v, b))
      case['expected'] = flatten(constants(case['batch']))
      if name == 'heatmap_single':
        case['expected_with_arguments'] = flatten(
            compiler_options.jit(predict)(variables, case['batch']))
    stdout, stderr = child.communicate(timeout=300)
  finally:
    if child.poll() is None:
      child.kill()
  assert child.returncode == 0, stderr[-3000:]
  child_modules = json.loads(stdout.strip().splitlines()[-1])
  for name, case in cases.items():
    case['got'] = dict(np.load(str(folder / f'{name}_{BATCH}.npz')))
  other = str(folder / f'{OTHER_BATCH[0]}_{OTHER_BATCH[1]}.npz')
  return cases, child_modules, dict(np.load(other))


def test_child_process_runs_without_the_model_code(exports):
  _, child_modules, _ = exports
  assert child_modules == ['famipose_jax', 'famipose_jax.export', 'famipose_jax.export.jax_export',
                           'famipose_jax.runtime', 'famipose_jax.runtime.compiler_options']


@pytest.mark.parametrize('name', list(CASES))
def test_child_outputs_equal_this_process(exports, name):
  """The file holds the function jit compiles here with the weights as constants: the same
  outputs to float32 rounding (the export's program is lowered anew and may fuse the warps and
  gathers differently: seen bitwise equal on the CPUs we have, not guaranteed), coordinates
  decoded from its own maps bit for bit."""
  case = exports[0][name]
  experiment = case['experiment']
  names = [f'{p}/{k}' for p in experiment.prediction_names for k in ('coords', 'maxvals')]
  names += [f'raw_outputs/{k}' for k in experiment.raw_output_names]
  assert sorted(case['got']) == sorted(names)
  assert_coords_decode_own_outputs(experiment, case['got'])
  for key, value in case['expected'].items():
    if not key.endswith('/coords'):
      np.testing.assert_allclose(case['got'][key], value, rtol=0, atol=4e-6, err_msg=key)


def test_weights_as_arguments_agree_to_float32_rounding(exports):
  """eval_loop passes the weights as arguments; as constants XLA folds them (BatchNorm into
  the convolutions), which moves the last bits: measured 9.5e-7 on maxima up to 4.7, 2.0e-6
  on maps up to 7.1."""
  case = exports[0]['heatmap_single']
  expected = case['expected_with_arguments']
  assert_coords_decode_own_outputs(case['experiment'], expected)
  for key in ('final/maxvals', 'raw_outputs/heatmaps'):
    np.testing.assert_allclose(case['got'][key], expected[key], rtol=0, atol=4e-6, err_msg=key)


def test_symbolic_batch_runs_another_batch_size(exports):
  cases, _, other = exports
  name, size = OTHER_BATCH
  assert cases[name]['header']['inputs']['key_image']['shape'] == ['batch', 32, 32, 3]
  assert other['final/coords'].shape == (size, 17, 2)
  assert other['raw_outputs/heatmaps'].shape == (size, 8, 8, 17)
  # The first rows are the crops of the batch of 2: the same maps and maxima up to the last
  # bits (a new batch size compiles anew; measured 4.8e-7).
  got = cases[name]['got']
  assert_coords_decode_own_outputs(cases[name]['experiment'], other)
  for key in ('final/maxvals', 'raw_outputs/heatmaps'):
    np.testing.assert_allclose(other[key][:BATCH], got[key], rtol=0, atol=2e-6, err_msg=key)


def test_fixed_batch_refuses_another_size(exports):
  case = exports[0]['simcc_single']
  assert case['header']['batch_size'] == BATCH
  assert case['header']['inputs'] == {'key_image': {'shape': [BATCH, 32, 32, 3],
                                                    'dtype': 'uint8'}}
  infer = export.load_inference(case['path'])
  with pytest.raises(ValueError, match=r"'key_image' must be uint8 \[2, 32, 32, 3\], got uint8 "
                                       r'\[3, 32, 32, 3\]'):
    infer(random_batch(case['experiment'], 3))


def test_header_says_how_to_feed_and_read_the_function(exports):
  header = exports[0]['heatmap_temporal']['header']
  shape = lambda *tail: {'shape': ['batch', *tail], 'dtype': 'float32'}
  assert header['inputs'] == {
      'key_image': {'shape': ['batch', 32, 32, 3], 'dtype': 'uint8'},
      'supporting_images': {'shape': ['batch', 2, 32, 32, 3], 'dtype': 'uint8'}}
  assert header['outputs'] == {
      'backbone/coords': shape(17, 2), 'backbone/maxvals': shape(17),
      'final/coords': shape(17, 2), 'final/maxvals': shape(17),
      'raw_outputs/backbone_heatmaps': shape(8, 8, 17), 'raw_outputs/heatmaps': shape(8, 8, 17)}
  assert header['model'] == {'family': 'famipose', 'head': 'heatmap', 'temporal': True,
                             'image_size': [32, 32], 'heatmap_size': [8, 8],
                             'simcc_split_ratio': 2.0, 'num_joints': 17}
  assert header['clip'] == {'supporting_offsets': [-1, 1], 'boundary_rule': 'published',
                            'frame_offsets': False}
  assert header['joints']['names'][:3] == ['nose', 'head_bottom', 'head_top']
  assert header['joints']['flip_pairs'][0] == [3, 4]
  assert header['pixels']['mean'] == [0.485, 0.456, 0.406]
  assert header['crop']['convention'] == 'size_minus_one'
  assert header['crop']['pixel_std'] == 200.0
  assert header['decoding']['flip_test'] is False
  assert header['platforms'] == ['cpu', 'cuda', 'tpu']
  assert header == export.read_header(exports[0]['heatmap_temporal']['path'])


def test_payload_loads_with_jax_alone(exports):
  """The layout docs/export.md gives to programs without famipose_jax."""
  path = exports[0]['simcc_temporal']['path']
  with open(path, 'rb') as f:
    magic, line, payload = f.read().split(b'\n', 2)
  assert magic + b'\n' == export.MAGIC
  header = json.loads(line)
  assert hashlib.sha256(payload).hexdigest() == header['payload_sha256']
  exported = jax.export.deserialize(bytearray(payload))
  assert [str(a) for a in exported.in_avals] == ['uint8[batch,32,32,3]',
                                                 'uint8[batch,2,32,32,3]']


def _damaged(path, tmp_path, edit) -> str:
  with open(path, 'rb') as f:
    data = f.read()
  out = tmp_path / 'damaged.export'
  out.write_bytes(edit(data))
  return str(out)


def _with_header(data: bytes, drop: str = '', **changes) -> bytes:
  """`data` with its header's entries changed, and the entry `drop` removed."""
  magic, line, payload = data.split(b'\n', 2)
  header = dict(json.loads(line), **changes)
  header.pop(drop, None)
  return magic + b'\n' + json.dumps(header).encode() + b'\n' + payload


@pytest.mark.parametrize('edit, message', [
    (lambda d: b'PK\x03\x04' + d, r'not a famipose-jax export \(it does not start with'),
    (lambda d: d[:len(export.MAGIC) + 20],
     r'the export header is damaged \(ValueError: no end of line after the header\)'),
    (lambda d: d.replace(b'{', b'[', 1), r'the export header is damaged \(JSONDecodeError'),
    (lambda d: _with_header(d, drop='payload_sha256'),
     r"the export header is damaged \(KeyError: 'payload_sha256'\)"),
    (lambda d: d[:-100], r'truncated or damaged: \d+ bytes of serialized function after the '
                         r'header, which announces \d+'),
    (lambda d: d[:-100] + bytes(b ^ 0xFF for b in d[-100:]),
     r"damaged: the serialized function's SHA-256 differs from the one in its header"),
    (lambda d: _with_header(d, format_version=2),
     r'export format version 2 is newer than this reader \(1\); update famipose-jax'),
])
def test_bad_file_is_named_with_what_is_wrong(exports, tmp_path, edit, message):
  path = _damaged(exports[0]['heatmap_single']['path'], tmp_path, edit)
  with pytest.raises(export.ExportFileError, match=message) as error:
    export.load_inference(path)
  assert str(error.value).startswith(path + ': ')


def test_payload_jax_cannot_read_is_named(exports, tmp_path):
  payload = b'\x00' * 64
  header = dict(exports[0]['heatmap_single']['header'], payload_bytes=len(payload),
                payload_sha256=hashlib.sha256(payload).hexdigest())
  path = tmp_path / 'garbage.export'
  path.write_bytes(export.MAGIC + json.dumps(header).encode() + b'\n' + payload)
  with pytest.raises(export.ExportFileError, match=r'cannot deserialize the function \(written '
                                                   r'by jax '):
    export.load_inference(str(path))


def test_wrong_inputs_are_named(exports):
  case = exports[0]['heatmap_temporal']
  infer = export.load_inference(case['path'])
  batch = case['batch']
  with pytest.raises(ValueError, match=r"the batch has no 'supporting_images' \(inputs: "
                                       r"\['key_image', 'supporting_images'\]"):
    infer({'key_image': batch['key_image']})
  with pytest.raises(ValueError, match=r"'key_image' must be uint8 \['batch', 32, 32, 3\], "
                                       r'got float32 \[2, 32, 32, 3\]'):
    infer(dict(batch, key_image=batch['key_image'].astype(np.float32)))
  with pytest.raises(ValueError, match=r'different batch sizes \[1, 2\]'):
    infer(dict(batch, key_image=batch['key_image'][:1]))


def test_export_refuses_a_batch_size_below_one(exports, tmp_path):
  case = exports[0]['heatmap_single']
  with pytest.raises(ValueError, match='batch_size must be None or >= 1, got 0'):
    export.export_inference(case['experiment'], case['variables'], str(tmp_path / 'x'),
                            batch_size=0)
  assert not os.listdir(tmp_path)
