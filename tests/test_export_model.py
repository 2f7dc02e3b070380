"""`python -m famipose_jax.export_model`: a trained network's folder to an export file."""

import os

import numpy as np
import pytest

from famipose_jax.export import jax_export as export
from famipose_jax import export_model
from famipose_jax.checkpoints import trained_model
from famipose_jax.inference import predictor as predictor_lib
from tests.export_support import assert_coords_decode_own_outputs, flatten

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'synthetic_famipose')


def test_the_exported_fixture_predicts_as_the_predictor(tmp_path, capsys):
  path = str(tmp_path / 'synthetic.export')
  assert export_model.main(['--checkpoint', FIXTURE, '--out', path, '--batch-size', '3']) == 0
  assert capsys.readouterr().out.startswith(f'wrote {path}: ')
  infer = export.load_inference(path)
  header = export.read_header(path)
  assert header['inputs']['key_image']['shape'] == [3, 128, 96, 3]
  assert header['inputs']['supporting_images']['shape'] == [3, 2, 128, 96, 3]

  model = trained_model.load_trained_model(FIXTURE)
  predictor = predictor_lib.Predictor(model.config, model.variables, batch_size=3)
  rng = np.random.default_rng(0)
  batch = {'key_image': rng.integers(0, 256, (3, 128, 96, 3), dtype=np.uint8),
           'supporting_images': rng.integers(0, 256, (3, 2, 128, 96, 3), dtype=np.uint8)}
  _, maxvals = predictor.predict_crops(batch)
  out = flatten(infer(batch))
  # Two programs: the maxima agree to float32 rounding, the coordinates are the file's own
  # maps decoded (export_support.assert_coords_decode_own_outputs says why not more).
  assert_coords_decode_own_outputs(predictor.experiment, out)
  np.testing.assert_allclose(out['final/maxvals'], maxvals, rtol=0, atol=4e-6)
  with pytest.raises(ValueError, match=r"'key_image' must be uint8 \[3, 128, 96, 3\]"):
    infer({k: v[:2] for k, v in batch.items()})


def test_bad_requests_are_named(tmp_path, capsys):
  out = str(tmp_path / 'x.onnx')
  assert export_model.main(['--checkpoint', FIXTURE, '--out', out, '--onnx']) == 2
  assert '--onnx needs a fixed --batch-size' in capsys.readouterr().err
  assert export_model.main(['--checkpoint', str(tmp_path), '--out', out]) == 2
  assert 'is not a trained model' in capsys.readouterr().err
  assert not os.path.exists(out)
