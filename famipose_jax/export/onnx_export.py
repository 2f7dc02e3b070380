"""The inference function as an ONNX model (jax2onnx), for runtimes without JAX.

  onnx_export.export_onnx(experiment, variables, 'famipose.onnx', batch_size=8)
  session = onnxruntime.InferenceSession('famipose.onnx')
  coords, maxvals, ... = session.run(None, {'key_image': uint8 [8, H, W, 3], ...})

The same function as `export.export_inference` (`Experiment.predict_fn(raw_outputs=True)`,
the variables as constants), with outputs named 'final/coords', ... in the header's order; the
header is in the model's metadata under METADATA_KEY. Needs the [onnx] extra (jax2onnx
0.17.1, onnx, onnxruntime).

The batch size is fixed: jax2onnx 0.17.1 cannot trace this model with a symbolic batch
(docs/export.md has the two errors).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from data_pipeline import atomic_files
from famipose_jax.export import jax_export as export

METADATA_KEY = 'famipose_jax'


def export_onnx(experiment, variables: Mapping[str, Any], path: str, *, batch_size: int,
                opset: int = 23) -> dict[str, Any]:
  """Converts the experiment's inference function with `variables` baked in; writes atomically.

  Args:
    experiment: a famipose_jax.experiment.Experiment.
    variables: the network's {'params', 'batch_stats'}.
    path: the .onnx file to write.
    batch_size: the batch size the model takes (fixed).
    opset: the ONNX opset.

  Returns:
    The header stored in the model's metadata.
  """
  try:
    import jax2onnx  # pylint: disable=g-import-not-at-top (an optional extra)
  except ImportError as e:
    raise ImportError('export_onnx needs jax2onnx: pip install "famipose-jax[onnx]"') from e
  if int(batch_size) < 1:
    raise ValueError(f'export_onnx: batch_size must be >= 1, got {batch_size}')
  predict = experiment.predict_fn(raw_outputs=True)
  constants = jax.device_get(dict(variables))
  specs = export.input_specs(experiment, int(batch_size))
  names = tuple(specs)
  outputs = jax.eval_shape(lambda batch: predict(constants, batch), specs)
  output_names = list(export.tensor_specs(outputs))

  # A function object of its own: jax2onnx traces it with patched primitives that stay in
  # JAX's caches for this object.
  def flat_predict(*images):
    result = predict(constants, dict(zip(names, images)))
    # jax2onnx 0.17.1 folds away the Transpose that produces a raw output and leaves the graph
    # output dangling ("Graph output (Transpose_141) does not exist in the graph"); adding 0
    # keeps a node of its own to name.
    result['raw_outputs'] = {k: v + jnp.zeros_like(v) for k, v in result['raw_outputs'].items()}
    return tuple(jax.tree_util.tree_leaves(result))

  model = jax2onnx.to_onnx(flat_predict, list(specs.values()), opset=opset,
                           input_names=list(names), output_names=output_names)
  header = {'format': 'onnx', 'format_version': export.FORMAT_VERSION,
            'jax_version': jax.__version__, 'opset': opset}
  header.update(export.describe_inference(experiment, specs, outputs, int(batch_size),
                                          constants))
  entry = model.metadata_props.add()
  entry.key, entry.value = METADATA_KEY, json.dumps(header, allow_nan=False)
  atomic_files.write_bytes_atomic(path, model.SerializeToString())
  return header
