"""One file that runs inference without this code: `jax.export` with the weights inside.

  export.export_inference(experiment, variables, 'famipose.export')   # here
  infer = export.load_inference('famipose.export')                    # anywhere with jax
  out = infer({'key_image': uint8 [B, H, W, 3], 'supporting_images': uint8 [B, N, H, W, 3]})
  out['final']['coords']     # [B, K, 2] (x, y) input-crop pixels; out['final']['maxvals'] [B, K]

The function is `Experiment.predict_fn(raw_outputs=True)` with the variables baked in as
constants: uint8 RGB crops in (normalised inside), decoded joints and the decoded network
outputs out, the flip test as the config sets it. The batch size is symbolic unless fixed.

File layout: the line MAGIC, one line of JSON (the header: inputs, outputs, what a caller
needs to cut crops and map coordinates back, the payload's size and SHA-256), then the bytes
of `jax.export.Exported.serialize()`. Loading needs jax and numpy only: this module never
imports the model code, and the header records everything the model code would have said.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from data_pipeline import atomic_files
from data_pipeline import joints
from data_pipeline.errors import UserError
from famipose_jax.runtime import compiler_options

MAGIC = b'FAMIPOSE-JAX-EXPORT\n'
FORMAT_VERSION = 1
# Lowered for each, so a file written on a CPU machine also runs on GPUs and TPUs.
DEFAULT_PLATFORMS = ('cpu', 'cuda', 'tpu')
BATCH_DIM = 'batch'   # the symbolic batch dimension's name, in the header's shapes too


class ExportFileError(UserError, ValueError):
  """A file that is not a readable export (wrong format, damaged, or from a newer version)."""


def export_inference(experiment, variables: Mapping[str, Any], path: str, *,
                     batch_size: int | None = None,
                     platforms: Sequence[str] = DEFAULT_PLATFORMS) -> dict[str, Any]:
  """Serialises the experiment's inference function with `variables` baked in, atomically.

  Args:
    experiment: a famipose_jax.experiment.Experiment (its config decides inputs and decoding).
    variables: the network's {'params', 'batch_stats'} (famipose_jax.experiment.model_variables
      of a restored train state).
    path: the file to write (replaced in one step; its folder is created).
    batch_size: None exports a symbolic batch dimension (any batch size); an int fixes it.
    platforms: the JAX platforms the file runs on.

  Returns:
    The header written to the file (see `read_header`).
  """
  if batch_size is not None and int(batch_size) < 1:
    raise ValueError(f'export_inference: batch_size must be None or >= 1, got {batch_size}')
  predict = experiment.predict_fn(raw_outputs=True)
  constants = jax.device_get(dict(variables))   # host arrays: constants of any device's module
  exported = jax.export.export(jax.jit(lambda batch: predict(constants, batch)),
                               platforms=tuple(platforms))(input_specs(experiment, batch_size))
  payload = bytes(exported.serialize())
  in_tree = jax.tree_util.tree_unflatten(exported.in_tree, exported.in_avals)
  out_tree = jax.tree_util.tree_unflatten(exported.out_tree, exported.out_avals)
  header = {'format': 'famipose-jax inference export', 'format_version': FORMAT_VERSION,
            'jax_version': jax.__version__, 'platforms': list(exported.platforms)}
  header.update(describe_inference(experiment, in_tree, out_tree, batch_size, constants))
  header['payload_bytes'] = len(payload)
  header['payload_sha256'] = hashlib.sha256(payload).hexdigest()
  line = json.dumps(header, allow_nan=False).encode('utf-8')
  atomic_files.write_bytes_atomic(path, MAGIC + line + b'\n' + payload)
  return header


def input_specs(experiment, batch_size: int | None) -> dict[str, jax.ShapeDtypeStruct]:
  """{input name: uint8 [B, H, W, 3] or [B, N, H, W, 3] (and int32 [B, N] frame offsets for a
  family that reads them)}; B symbolic when batch_size is None."""
  if batch_size is None:
    (batch,) = jax.export.symbolic_shape(BATCH_DIM)
  else:
    batch = int(batch_size)
  return {name: jax.ShapeDtypeStruct(shape, dtype)
          for name, (shape, dtype) in experiment.input_shapes(batch).items()}


def _shape(shape) -> list:
  """A shape for JSON: ints, and the symbolic batch dimension by its name."""
  return [d if isinstance(d, int) else str(d) for d in shape]


def tensor_specs(tree) -> dict[str, dict[str, Any]]:
  """{'a/b': {'shape', 'dtype'}} of a tree of arrays, named by their dict keys."""
  flat = jax.tree_util.tree_flatten_with_path(tree)[0]
  # Dict keys only: exported inputs sit inside the (args, kwargs) tuples.
  name = lambda path: '/'.join(k.key for k in path if isinstance(k, jax.tree_util.DictKey))
  return {name(path): {'shape': _shape(a.shape), 'dtype': str(a.dtype)} for path, a in flat}


def describe_inference(experiment, inputs, outputs, batch_size: int | None,
                       variables) -> dict[str, Any]:
  """The header's description of a function: tensors, sizes, crop and joint conventions.

  Args:
    experiment: the Experiment whose predict_fn was exported.
    inputs, outputs: trees of the function's input and output arrays (or avals).
    batch_size: the fixed batch size, or None for a symbolic one.
    variables: the baked-in variables (counted).
  """
  config = experiment.config
  num_joints = int(config.model.num_joints)
  width, height = (int(v) for v in config.model.image_size)
  return {
      'batch_size': batch_size,
      'inputs': tensor_specs(inputs),
      'outputs': tensor_specs(outputs),
      'num_parameters': int(sum(np.size(x) for x in jax.tree_util.tree_leaves(variables))),
      'model': {
          'family': config.model.family,
          'head': config.model.head,
          'temporal': bool(experiment.clip.offsets),
          'image_size': [width, height],
          'heatmap_size': [int(v) for v in config.model.heatmap_size],
          'simcc_split_ratio': float(config.model.simcc_split_ratio),
          'num_joints': num_joints,
      },
      'joints': {
          'names': list(joints.JOINT_NAMES) if num_joints == joints.NUM_JOINTS else None,
          'flip_pairs': [[int(a), int(b)] for a, b in config.data.flip_pairs],
      },
      'clip': {
          'supporting_offsets': [int(v) for v in experiment.clip.offsets],
          'boundary_rule': experiment.clip.boundary_rule,
          'frame_offsets': bool(experiment.clip.frame_offsets),
      },
      'pixels': {
          'format': 'uint8 RGB, normalised inside as (x / 255 - mean) / std',
          'mean': [float(v) for v in config.data.mean],
          'std': [float(v) for v in config.data.std],
      },
      'crop': {
          'convention': config.data.crop_convention,
          'pixel_std': float(config.data.pixel_std),
          'box_enlarge': float(config.data.box_enlarge),
          'aspect_ratio': width / height,
          'coordinates': 'input-crop pixels (x, y); the evaluation maps them back with the '
                         'inverse of crop_affine(center, scale, rotation, image_size, pixel_std)',
      },
      'decoding': {
          'flip_test': bool(config.eval.flip_test),
          'flip_shift_heatmap': bool(config.eval.flip_shift_heatmap),
          'dark': bool(config.eval.dark),
          'quarter_offset': float(config.eval.quarter_offset),
          'joint_score': config.eval.joint_score,
      },
  }


# ---------------------------------------------------------------------------------------------
# Loading: jax and numpy only
# ---------------------------------------------------------------------------------------------


def _read(path: str) -> tuple[dict[str, Any], bytes]:
  """(header, payload) of an export file, checked against the header's size and SHA-256."""
  with open(path, 'rb') as f:
    data = f.read()
  if not data.startswith(MAGIC):
    raise ExportFileError(f'{path}: not a famipose-jax export (it does not start with '
                          f'{MAGIC!r}); write one with '
                          'famipose_jax.export.jax_export.export_inference')
  line, newline, payload = data[len(MAGIC):].partition(b'\n')
  try:
    if not newline:
      raise ValueError('no end of line after the header')
    header = json.loads(line.decode('utf-8'))
    size, digest = int(header['payload_bytes']), str(header['payload_sha256'])
    version = int(header['format_version'])
  except (ValueError, KeyError, TypeError) as e:
    raise ExportFileError(f'{path}: the export header is damaged ({type(e).__name__}: '
                          f'{e})') from e
  if version > FORMAT_VERSION:
    raise ExportFileError(f'{path}: export format version {version} is newer than this '
                          f'reader ({FORMAT_VERSION}); update famipose-jax')
  if len(payload) != size:
    raise ExportFileError(f'{path}: truncated or damaged: {len(payload)} bytes of serialized '
                          f'function after the header, which announces {size}')
  if hashlib.sha256(payload).hexdigest() != digest:
    raise ExportFileError(f'{path}: damaged: the serialized function\'s SHA-256 differs from '
                          f'the one in its header')
  return header, payload


def read_header(path: str) -> dict[str, Any]:
  """The JSON header of an export file (its payload checked, not deserialised)."""
  return _read(path)[0]


class ExportedInference:
  """A loaded export: `infer(batch)` -> {'final': {'coords', 'maxvals'}, ..., 'raw_outputs'}.

  The batch is a mapping holding at least the header's inputs (uint8 arrays, numpy or jax;
  other entries are ignored). The call is jitted; each new batch size compiles once.

  Attributes:
    header: the file's header (dict): inputs, outputs, sizes, crop and joint conventions.
    exported: the deserialised jax.export.Exported.
    path: the file it was loaded from (named in errors).
  """

  def __init__(self, header: dict[str, Any], exported: jax.export.Exported, path: str):
    self.header = header
    self.exported = exported
    self.path = path
    self._call = jax.jit(exported.call, compiler_options=compiler_options.for_backend())

  @property
  def input_names(self) -> tuple[str, ...]:
    return tuple(self.header['inputs'])

  def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
    inputs = {}
    batch_sizes = set()
    for name, spec in self.header['inputs'].items():
      if name not in batch:
        raise ValueError(f'{self.path}: the batch has no {name!r} (inputs: '
                         f'{list(self.input_names)}, got {sorted(batch)})')
      value = batch[name]
      shape, dtype = tuple(np.shape(value)), np.dtype(getattr(value, 'dtype', None))
      expected = tuple(spec['shape'])
      fits = len(shape) == len(expected) and all(
          isinstance(e, str) or e == s for s, e in zip(shape, expected))
      if not fits or dtype != np.dtype(spec['dtype']):
        raise ValueError(f'{self.path}: {name!r} must be {spec["dtype"]} {list(expected)}, got '
                         f'{dtype} {list(shape)}')
      batch_sizes.add(shape[0])
      inputs[name] = value
    if len(batch_sizes) > 1:
      raise ValueError(f'{self.path}: the inputs have different batch sizes '
                       f'{sorted(batch_sizes)}')
    return self._call(inputs)


def load_inference(path: str) -> ExportedInference:
  """The inference function of an export file, ready to call (see ExportedInference).

  Raises:
    ExportFileError: the file is not an export, is damaged, or cannot be deserialised by this
      jax (naming the jax version that wrote it).
  """
  header, payload = _read(path)
  try:
    exported = jax.export.deserialize(bytearray(payload))
  except Exception as e:  # pylint: disable=broad-except (any failure means an unusable file)
    raise ExportFileError(f'{path}: jax {jax.__version__} cannot deserialize the function '
                          f'(written by jax {header.get("jax_version")}): '
                          f'{type(e).__name__}: {e}') from e
  return ExportedInference(header, exported, path)
