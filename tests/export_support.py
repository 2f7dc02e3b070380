"""Helpers of the export tests: weights and crops of random values, outputs by name."""

import functools

import jax
import numpy as np

from famipose_jax.heads import decoding


def random_variables(experiment, seed: int = 0):
  """Variables of the model's shapes (jax.eval_shape, no init compile) whose outputs are O(1).

  The model's own initialisation (N(0, 0.001)) makes near-zero maps, which compare equal
  however wrong the export; these weights give every output real structure.
  """
  shapes = jax.eval_shape(functools.partial(experiment.model.init, train=False),
                          jax.random.key(0), *experiment.example_inputs())
  rng = np.random.default_rng(seed)

  def leaf(path, spec):
    name = path[-1].key
    if name == 'kernel':
      values = rng.standard_normal(spec.shape) / np.sqrt(np.prod(spec.shape[:-1]))
    elif name == 'var':
      values = rng.uniform(0.5, 1.5, spec.shape)
    elif name == 'scale':
      values = 1.0 + 0.1 * rng.standard_normal(spec.shape)
    else:
      values = 0.1 * rng.standard_normal(spec.shape)
    return values.astype(spec.dtype)

  return jax.tree_util.tree_map_with_path(leaf, shapes)


def random_batch(experiment, batch_size: int, seed: int = 1) -> dict:
  """Random uint8 crops for the experiment's inputs: `batch_size` clips (frame offsets, where
  the family reads them, are its clip's own)."""
  rng = np.random.default_rng(seed)
  batch = {}
  for name, (shape, dtype) in experiment.input_shapes(batch_size).items():
    if dtype == np.uint8:
      batch[name] = rng.integers(0, 256, shape, dtype=np.uint8)
    else:
      batch[name] = np.broadcast_to(np.asarray(experiment.clip.offsets, dtype), shape).copy()
  return batch


def flatten(tree) -> dict:
  """{'final/coords': numpy array, ...}: a nested dict of arrays, named by its keys."""
  return {'/'.join(k.key for k in p): np.asarray(v)
          for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def assert_coords_decode_own_outputs(experiment, outputs: dict, maxvals_atol: float = 1e-6):
  """Each prediction's coordinates are the decode of the same program's raw outputs, bit for bit.

  Two programs (an export and this process, XLA and onnxruntime) round their maps differently
  in the last bits, and which way a tiny difference tips an argmax depends on the CPU's
  kernels. Decoding is argmax, comparisons and quarter (or bin) steps, which are exact on
  every CPU: so a program's coordinates are checked against its own maps, and the maps of two
  programs against each other to float32 rounding.

  Args:
    experiment: the Experiment whose predict_fn(raw_outputs=True) made `outputs`.
    outputs: flat {'final/coords', ..., 'raw_outputs/<name>'} (see `flatten`).
    maxvals_atol: the decoded maxima are recomputed (SimCC's softmax is not exact).
  """
  raw = {name.split('/', 1)[1]: value for name, value in outputs.items()
         if name.startswith('raw_outputs/')}
  decoded = jax.jit(decoding.make_decoder(experiment.config, experiment.head))(raw)
  for name in experiment.prediction_names:
    coords, maxvals = decoded[name]
    np.testing.assert_array_equal(outputs[f'{name}/coords'], np.asarray(coords), err_msg=name)
    np.testing.assert_allclose(outputs[f'{name}/maxvals'], np.asarray(maxvals), rtol=0,
                               atol=maxvals_atol, err_msg=name)
