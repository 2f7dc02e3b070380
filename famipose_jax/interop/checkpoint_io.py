"""A converted checkpoint on disk: OUT_DIR/variables (Orbax) and OUT_DIR/conversion.json.

  OUT_DIR/variables/        Orbax PyTree checkpoint of {'params': ..., 'batch_stats': ...}
                            (float32; for an HRNet checkpoint only the 'backbone' subtrees)
  OUT_DIR/config.json       the experiment config converted for (FAMI-Pose checkpoints), as a
                            workdir records it: prediction rebuilds the network from it
  OUT_DIR/conversion.json   what was converted: source file and its SHA-256, model kind,
                            widths, tensor and parameter counts, the non-strict report

`famipose_jax.checkpoints.init_from.load_variables(OUT_DIR)` reads it back
(config.init_from=OUT_DIR). conversion.json is written last, so a folder without it is an
interrupted conversion.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import time
from typing import Any, Mapping, Optional

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from data_pipeline import atomic_files
from famipose_jax import errors
from famipose_jax.checkpoints import init_from
from famipose_jax.checkpoints import workdir_binding
from famipose_jax.interop import convert

RECORD_FILE = 'conversion.json'
CONFIG_FILE = workdir_binding.CONFIG_FILE
VARIABLES_DIR = init_from.VARIABLES_DIR


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _counts(variables: Mapping[str, Any]) -> dict[str, int]:
  leaves = {c: jax.tree_util.tree_leaves(variables.get(c, {})) for c in ('params', 'batch_stats')}
  return {'params_tensors': len(leaves['params']),
          'batch_stats_tensors': len(leaves['batch_stats']),
          'parameters': int(sum(np.size(x) for x in leaves['params'])),
          'backbone_parameters': int(sum(np.size(x) for x in jax.tree_util.tree_leaves(
              variables.get('params', {}).get(convert.FLAX_BACKBONE, {}))))}


def check_output_dir(out_dir: str) -> None:
  """Refuses an existing non-empty folder (a converted checkpoint is never overwritten)."""
  if os.path.exists(out_dir) and (not os.path.isdir(out_dir) or os.listdir(out_dir)):
    raise errors.RefusedOverwriteError(
        f'{out_dir} exists and is not an empty folder: refusing to overwrite it '
        '(choose a new output folder)')


def save_variables(out_dir: str, variables: Mapping[str, Any]) -> None:
  """Writes OUT_DIR/variables with Orbax (into a new or empty OUT_DIR)."""
  check_output_dir(out_dir)
  os.makedirs(out_dir, exist_ok=True)
  tree = {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}
  with ocp.PyTreeCheckpointer() as checkpointer:
    checkpointer.save(os.path.abspath(os.path.join(out_dir, VARIABLES_DIR)),
                      args=ocp.args.PyTreeSave(tree))


def write_record(out_dir: str, record: Mapping[str, Any]) -> None:
  """OUT_DIR/conversion.json, atomically; written last, it marks a complete conversion."""
  atomic_files.write_json_atomic(os.path.join(out_dir, RECORD_FILE), dict(record))


def convert_file(in_path: str, out_dir: str, model_config: ml_collections.ConfigDict,
                 model_kind: str = convert.DEFAULT_KIND, num_supporting: int = 4,
                 strict: bool = True,
                 trust_pickle: bool = False,
                 shapes: Optional[Mapping[str, Any]] = None,
                 config: Optional[ml_collections.ConfigDict] = None
                 ) -> tuple[dict[str, Any], convert.ConversionReport, dict[str, Any]]:
  """IN.pth -> OUT_DIR (see the module docstring). Nothing is written if conversion fails.

  `config`, the whole experiment config `model_config` belongs to, is recorded in
  OUT_DIR/config.json when given.

  Returns:
    (variables, report, the record written to conversion.json).
  """
  check_output_dir(out_dir)
  start = time.perf_counter()
  state_dict = convert.load_torch_checkpoint(in_path, trust_pickle=trust_pickle)
  source_sha256 = _sha256(in_path)
  loaded = time.perf_counter()
  variables, report = convert.state_dict_to_variables(
      state_dict, model_config, model_kind, num_supporting, strict=strict, shapes=shapes)
  converted = time.perf_counter()
  width, height = model_config.image_size
  record = {
      'source': os.path.abspath(in_path),
      'source_sha256': source_sha256,
      'model': model_kind,
      'width': model_config.backbone.stage4.num_channels[0],
      'num_joints': model_config.num_joints,
      'image_size': [width, height],
      'num_supporting': num_supporting if model_kind != convert.HRNET_KIND else None,
      'global_transform': (model_config.famipose.global_transform
                           if model_kind == 'famipose' and 'famipose' in model_config else None),
      'strict': strict,
      'counts': _counts(variables),
      'report': report.to_json(),
      'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'layout': "Orbax PyTree {'params', 'batch_stats'} in variables/, float32, NHWC/HWIO",
  }
  save_variables(out_dir, variables)
  saved = time.perf_counter()
  record['seconds'] = {'load': round(loaded - start, 3), 'convert': round(converted - loaded, 3),
                       'save': round(saved - converted, 3), 'total': round(saved - start, 3)}
  if config is not None:   # prediction rebuilds the network from it
    atomic_files.write_json_atomic(os.path.join(out_dir, CONFIG_FILE),
                                   {'config': workdir_binding.flat_config(config)})
  write_record(out_dir, record)
  return variables, report, record
