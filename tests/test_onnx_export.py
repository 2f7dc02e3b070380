"""export.onnx_export: onnxruntime computes what JAX computes (needs the [onnx] extra)."""

import json

import numpy as np
import pytest

from famipose_jax.runtime import compiler_options
from famipose_jax import experiment as experiment_lib
from famipose_jax.export import onnx_export
from tests.export_support import assert_coords_decode_own_outputs, flatten, random_batch
from tests.export_support import random_variables
from tests.train_support import smoke_config

pytest.importorskip('jax2onnx')
onnx = pytest.importorskip('onnx')
onnxruntime = pytest.importorskip('onnxruntime')


def test_onnxruntime_agrees_with_jax(tmp_path):
  """The single-frame network (converting the temporal one takes 45 s or more on 2 cores; it
  agrees as closely: docs/export.md). jax2onnx's graph rounds differently from XLA's:
  measured 2.2e-6 on maxima up to 4.7, 3.4e-6 on maps up to 7."""
  experiment = experiment_lib.Experiment(smoke_config(str(tmp_path / 'no_data'),
                                                      **{'model.family': 'single_frame'}))
  variables = random_variables(experiment)
  batch = random_batch(experiment, 2)
  predict = experiment.predict_fn(raw_outputs=True)
  expected = flatten(compiler_options.jit(lambda b: predict(variables, b))(batch))
  path = str(tmp_path / 'model.onnx')
  header = onnx_export.export_onnx(experiment, variables, path, batch_size=2)

  model = onnx.load(path)
  metadata = {entry.key: entry.value for entry in model.metadata_props}
  assert json.loads(metadata[onnx_export.METADATA_KEY]) == header
  assert header['inputs'] == {'key_image': {'shape': [2, 32, 32, 3], 'dtype': 'uint8'}}
  session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
  assert [o.name for o in session.get_outputs()] == list(header['outputs'])
  got = dict(zip(header['outputs'], session.run(None, {'key_image': batch['key_image']})))
  assert sorted(got) == sorted(expected)
  assert_coords_decode_own_outputs(experiment, got)
  for key in ('final/maxvals', 'raw_outputs/heatmaps'):
    np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-5, err_msg=key)
