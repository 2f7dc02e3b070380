"""PyTorch state_dict <-> Flax variables for HRNet pose checkpoints and the model families.

One key table serves both directions. It is derived from the Flax model's own variable tree
(shapes from `jax.eval_shape`, no computation) by inverting the naming rule documented in
famipose_jax/models/famipose/network.py: a Flax module name such as `fuse_layers_2_0_1_0` is the
PyTorch path `fuse_layers.2.0.1.0` (numeric segments merged into the one before with '_'), the
backbone `backbone` is PyTorch's `hrnet` (or the family's own name for it: its
`models.registry.TorchNaming`), and leaves map as

  params      kernel [kh, kw, I, O] <-> weight [O, I, kh, kw]   (Conv2d, DeformConv2d)
  params      kernel [I, O]         <-> weight [O, I]           (Linear)
  params      scale                 <-> weight                  (BatchNorm)
  params      bias                  <-> bias
  batch_stats mean / var            <-> running_mean / running_var

BatchNorm's `num_batches_tracked` has no Flax counterpart: it is accepted and ignored when
reading, and written as 0 when exporting (PyTorch only reads it when momentum is None).

Model kinds: a family with published checkpoints ('famipose': PyTorch keys `hrnet.*` + the
additions; `model_kinds()` lists them) and 'hrnet' (the backbone alone; public HRNet pose
checkpoints have no prefix, `hrnet.` is accepted; the Flax variables are the model's `backbone`
subtree, {'params': {'backbone': ...}, ...}).

The module is importable without torch; only `load_torch_checkpoint` and
`variables_to_torch_state_dict` need it.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from data_pipeline.errors import UserError
from famipose_jax import models
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import registry

HRNET_KIND = 'hrnet'
DEFAULT_KIND = 'famipose'        # the published model
TORCH_BACKBONE = 'hrnet'         # the public HRNet checkpoints' own name, and FAMI-Pose's
FLAX_BACKBONE = 'backbone'
_HRNET_NAMING = registry.TorchNaming(backbone=TORCH_BACKBONE)
_LEAF_TO_TORCH = {('params', 'kernel'): 'weight', ('params', 'scale'): 'weight',
                  ('params', 'bias'): 'bias', ('batch_stats', 'mean'): 'running_mean',
                  ('batch_stats', 'var'): 'running_var'}
_IGNORED_TORCH_LEAF = 'num_batches_tracked'
_WRAPPER_PREFIX = 'module.'


class ConversionError(UserError, ValueError):
  """A state_dict that does not fit the model, or a file that holds none."""


@dataclasses.dataclass(frozen=True)
class Entry:
  """One tensor: its PyTorch key and shape, and where it lives in the Flax variables."""
  torch_key: str
  collection: str               # 'params' | 'batch_stats'
  path: tuple[str, ...]         # within the collection, e.g. ('backbone', 'conv1', 'kernel')
  flax_shape: tuple[int, ...]

  @property
  def torch_shape(self) -> tuple[int, ...]:
    return tuple(np.shape(to_torch_layout(np.empty(self.flax_shape, np.float32))))


@dataclasses.dataclass
class ConversionReport:
  """What a conversion did; in non-strict mode, what it could not convert."""
  converted: list[str] = dataclasses.field(default_factory=list)
  missing: list[str] = dataclasses.field(default_factory=list)
  unexpected: list[str] = dataclasses.field(default_factory=list)
  mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = dataclasses.field(
      default_factory=list)    # (key, checkpoint shape, model shape), PyTorch layout
  ignored: list[str] = dataclasses.field(default_factory=list)
  stripped_prefixes: list[str] = dataclasses.field(default_factory=list)

  @property
  def ok(self) -> bool:
    return not (self.missing or self.unexpected or self.mismatched)

  def problems(self, limit: Optional[int] = None) -> str:
    """Every problem by key name, one per line (at most `limit` per kind)."""
    lines = []
    def section(title, items):
      if not items:
        return
      lines.append(f'{title} ({len(items)}):')
      shown = items if limit is None else items[:limit]
      lines.extend(f'  {item}' for item in shown)
      if len(shown) < len(items):
        lines.append(f'  ... and {len(items) - len(shown)} more')
    section('missing keys', self.missing)
    section('unexpected keys', self.unexpected)
    section('shape mismatches (checkpoint vs model, PyTorch layout)',
            [f'{k}: {tuple(a)} vs {tuple(b)}' for k, a, b in self.mismatched])
    return '\n'.join(lines)

  def counts(self) -> str:
    """How many keys of each kind did not fit, e.g. '588 missing, 588 unexpected'."""
    kinds = [(len(self.missing), 'missing'), (len(self.unexpected), 'unexpected'),
             (len(self.mismatched), 'shape mismatches')]
    return ', '.join(f'{count} {kind}' for count, kind in kinds if count)

  def to_json(self) -> dict[str, Any]:
    return {'converted': len(self.converted), 'ignored': len(self.ignored),
            'stripped_prefixes': self.stripped_prefixes, 'missing': self.missing,
            'unexpected': self.unexpected,
            'mismatched': [[k, list(a), list(b)] for k, a, b in self.mismatched]}


# ----------------------------------------------------------------------------------------------
# Names and layouts


def model_kinds() -> tuple[str, ...]:
  """'hrnet' and every registered family whose published checkpoints convert."""
  return (HRNET_KIND,) + tuple(name for name in registry.names()
                               if registry.get(name).torch_naming is not None)


def naming_of(model_kind: str) -> registry.TorchNaming:
  """How checkpoints of `model_kind` name their variables."""
  if model_kind == HRNET_KIND:
    return _HRNET_NAMING
  if model_kind not in model_kinds():
    raise ValueError(f'model kind {model_kind!r}: expected one of {model_kinds()}')
  return registry.get(model_kind).torch_naming


def torch_module_path(flax_path: tuple[str, ...],
                      naming: registry.TorchNaming | None = None) -> str:
  """Flax module path -> dotted PyTorch module path (the inverse of the naming rule).

  Attribute names that themselves end in '_<n>' (`naming.names_with_number`, e.g. FAMI-Pose's
  dcn_1) are kept whole: the rule's merged numeric segments cannot be told apart from them.
  """
  naming = naming or naming_of(DEFAULT_KIND)
  numbered = re.compile(naming.names_with_number) if naming.names_with_number else None
  segments = []
  for name in flax_path:
    if name == FLAX_BACKBONE and not segments:
      segments.append(naming.backbone)
      continue
    if numbered is not None and numbered.match(name):
      segments.append(name)
      continue
    parts = name.split('_')
    first_number = len(parts)
    while first_number > 1 and parts[first_number - 1].isdigit():
      first_number -= 1
    segments.append('_'.join(parts[:first_number]))
    segments.extend(parts[first_number:])
  return '.'.join(segments)


def flax_module_path(torch_path: str,
                     naming: registry.TorchNaming | None = None) -> tuple[str, ...]:
  """Dotted PyTorch module path -> Flax module path (the naming rule itself)."""
  naming = naming or naming_of(DEFAULT_KIND)
  names: list[str] = []
  for segment in torch_path.split('.'):
    if segment.isdigit() and names:
      names[-1] = f'{names[-1]}_{segment}'
    else:
      names.append(segment)
  if names and names[0] == naming.backbone:
    names[0] = FLAX_BACKBONE
  return tuple(names)


def to_torch_layout(value: np.ndarray) -> np.ndarray:
  """A Flax kernel (HWIO conv, [I, O] dense) in PyTorch layout; other leaves unchanged."""
  if value.ndim == 4:
    return np.transpose(value, (3, 2, 0, 1))
  if value.ndim == 2:
    return np.transpose(value)
  return value


def to_flax_layout(value: np.ndarray) -> np.ndarray:
  """The inverse of `to_torch_layout` (OIHW -> HWIO, [O, I] -> [I, O])."""
  if value.ndim == 4:
    return np.transpose(value, (2, 3, 1, 0))
  if value.ndim == 2:
    return np.transpose(value)
  return value


def _leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()):
  for name, value in tree.items():
    if isinstance(value, Mapping):
      yield from _leaves(value, prefix + (name,))
    else:
      yield prefix + (name,), value


def key_table(variables: Mapping[str, Any],
              naming: registry.TorchNaming | None = None) -> list[Entry]:
  """The PyTorch key of every leaf of Flax `variables` (arrays or ShapeDtypeStructs).

  Keys are in the full network's naming (backbone under `naming.backbone`, FAMI-Pose's by
  default).
  """
  entries = []
  for collection in ('params', 'batch_stats'):
    for path, leaf in _leaves(variables.get(collection, {})):
      leaf_name = _LEAF_TO_TORCH.get((collection, path[-1]))
      if leaf_name is None:
        raise ConversionError(f'Flax variable {collection}/{"/".join(path)} has no PyTorch '
                              'counterpart under the naming rule')
      torch_key = f'{torch_module_path(path[:-1], naming)}.{leaf_name}'
      entries.append(Entry(torch_key, collection, tuple(path), tuple(np.shape(leaf))))
  keys = [e.torch_key for e in entries]
  if len(set(keys)) != len(keys):
    raise ConversionError('two Flax variables map to one PyTorch key: '
                          f'{sorted(k for k in set(keys) if keys.count(k) > 1)}')
  return entries


def _batch_norm_modules(entries: list[Entry]) -> list[str]:
  """PyTorch module paths of the BatchNorm layers (those with running statistics)."""
  return [e.torch_key[:-len('.running_mean')] for e in entries
          if e.torch_key.endswith('.running_mean')]


# ----------------------------------------------------------------------------------------------
# The model's variable shapes


def conversion_config(model_config: ml_collections.ConfigDict,
                      model_kind: str) -> ml_collections.ConfigDict:
  """The model section whose variables a checkpoint of `model_kind` fills: of that family (its
  section given its defaults when the config is another family's), and for 'hrnet' the
  single-frame network with the heatmap head."""
  naming_of(model_kind)   # refuses an unknown kind
  family = 'single_frame' if model_kind == HRNET_KIND else model_kind
  config = config_defaults.with_family(model_config, family)
  if model_kind == HRNET_KIND:
    config.head = 'heatmap'
  return config


def variable_shapes(model_config: ml_collections.ConfigDict, model_kind: str = DEFAULT_KIND,
                    num_supporting: int = 4) -> dict[str, Any]:
  """{'params', 'batch_stats'} of ShapeDtypeStructs, traced with jax.eval_shape (no compute)."""
  return models.variable_shapes(conversion_config(model_config, model_kind), num_supporting)


# ----------------------------------------------------------------------------------------------
# PyTorch -> Flax


def normalize_keys(state_dict: Mapping[str, Any], model_kind: str,
                   report: ConversionReport) -> dict[str, Any]:
  """Strips DataParallel's `module.` and, for HRNet checkpoints, adds the `hrnet.` prefix."""
  keys = list(state_dict)
  if keys and all(k.startswith(_WRAPPER_PREFIX) for k in keys):
    state_dict = {k[len(_WRAPPER_PREFIX):]: v for k, v in state_dict.items()}
    report.stripped_prefixes.append(_WRAPPER_PREFIX)
  if model_kind == HRNET_KIND:
    prefixed = [k for k in state_dict if k.startswith(TORCH_BACKBONE + '.')]
    if prefixed:
      report.stripped_prefixes.append(TORCH_BACKBONE + '.')
    else:
      state_dict = {f'{TORCH_BACKBONE}.{k}': v for k, v in state_dict.items()}
  return dict(state_dict)


def _display_key(key: str, model_kind: str, had_prefix: bool) -> str:
  """A key as the user's checkpoint spells it (HRNet checkpoints usually have no `hrnet.`)."""
  prefix = TORCH_BACKBONE + '.'
  if model_kind == HRNET_KIND and not had_prefix and key.startswith(prefix):
    return key[len(prefix):]
  return key


def torch_float64():
  import torch  # pylint: disable=g-import-not-at-top (only for torch tensors)
  return torch.float64


def _as_numpy(value) -> np.ndarray:
  if hasattr(value, 'detach'):   # a torch tensor (bfloat16 has no numpy dtype)
    value = value.detach().cpu()
    if value.is_floating_point() and value.dtype != torch_float64():
      value = value.float()
    return value.numpy()
  return np.asarray(value)


def _insert(tree: dict[str, Any], path: tuple[str, ...], value):
  for name in path[:-1]:
    tree = tree.setdefault(name, {})
  tree[path[-1]] = value


def state_dict_to_variables(state_dict: Mapping[str, Any], model_config: ml_collections.ConfigDict,
                            model_kind: str = DEFAULT_KIND, num_supporting: int = 4,
                            strict: bool = True,
                            shapes: Optional[Mapping[str, Any]] = None,
                            dtype=np.float32) -> tuple[dict[str, Any], ConversionReport]:
  """Converts a published state_dict to Flax variables (numpy arrays of `dtype`: float32, or
  float64 for a float64 cross-check of a float64 state_dict).

  Args:
    state_dict: key -> tensor/array (already unwrapped from {'state_dict': ...}).
    model_config: the `model` config section the variables are for.
    model_kind: a family (`model_kinds()`, e.g. 'famipose') or 'hrnet'.
    num_supporting: N, the number of supporting frames (FAMI-Pose's sup_agg_block input width
      is N*C).
    strict: raise ConversionError counting the missing keys, unexpected keys and shape
      mismatches (naming the first few of each); when False, report them and return the
      variables that did convert (a partial tree).
    shapes: the model's variable shapes, when the caller has them (else traced here).

  Returns:
    ({'params': ..., 'batch_stats': ...}, report).
  """
  report = ConversionReport()
  normalized = normalize_keys(state_dict, model_kind, report)
  had_prefix = TORCH_BACKBONE + '.' in report.stripped_prefixes
  if shapes is None:
    shapes = variable_shapes(model_config, model_kind, num_supporting)
  entries = key_table(shapes, naming_of(model_kind))
  show = lambda key: _display_key(key, model_kind, had_prefix)
  ignorable = {f'{m}.{_IGNORED_TORCH_LEAF}' for m in _batch_norm_modules(entries)}

  variables: dict[str, Any] = {'params': {}, 'batch_stats': {}}
  for entry in entries:
    if entry.torch_key not in normalized:
      report.missing.append(show(entry.torch_key))
      continue
    value = _as_numpy(normalized[entry.torch_key])
    if tuple(value.shape) != entry.torch_shape:
      report.mismatched.append((show(entry.torch_key), tuple(value.shape), entry.torch_shape))
      continue
    # A copy: torch tensors share memory with their numpy views and BN updates them in place.
    _insert(variables[entry.collection], entry.path,
            np.array(to_flax_layout(value), dtype=dtype, order='C', copy=True))
    report.converted.append(show(entry.torch_key))
  known = {e.torch_key for e in entries}
  for key in normalized:
    if key in known:
      continue
    (report.ignored if key in ignorable else report.unexpected).append(show(key))

  if strict and not report.ok:
    hint = _width_hint(normalized, model_config)
    raise ConversionError(
        f'the state_dict does not match the {model_kind} model '
        f'({len(report.converted)} of {len(entries)} tensors fit; {report.counts()}):\n'
        f'{report.problems(limit=_ERROR_EXAMPLES)}' + (f'\n{hint}' if hint else ''))
  return variables, report


_ERROR_EXAMPLES = 8    # keys shown per kind in a strict error; --non-strict records them all


def _width_hint(state_dict: Mapping[str, Any], model_config) -> str:
  """Suggests the checkpoint's own width and joint count when they differ from the config."""
  final = state_dict.get(f'{TORCH_BACKBONE}.final_layer.weight')
  if final is None:
    if any(k.split('.', 1)[0] in ('conv1', 'layer1', 'stage4') for k in state_dict):
      return ('hint: these look like HRNet keys without the `hrnet.` prefix: convert them with '
              'model kind "hrnet" (--model hrnet).')
    return ''
  joints, width = np.shape(final)[:2]
  config_width = model_config.backbone.stage4.num_channels[0]
  notes = []
  if width != config_width:
    notes.append(f'the checkpoint is HRNet-W{width} (final_layer has {width} input channels), '
                 f'the config W{config_width} (--width {width})')
  if joints != model_config.num_joints:
    notes.append(f'the checkpoint predicts {joints} joints, the config {model_config.num_joints}'
                 f' (--num-joints {joints})')
  return ('hint: ' + '; '.join(notes)) if notes else ''


# ----------------------------------------------------------------------------------------------
# Flax -> PyTorch


def variables_to_state_dict(variables: Mapping[str, Any], model_kind: str = DEFAULT_KIND
                            ) -> dict[str, np.ndarray]:
  """Flax variables -> {published PyTorch key: numpy array in PyTorch layout}, in model order.

  BatchNorm layers get `num_batches_tracked` = 0 (int64). For 'hrnet' only the `backbone`
  subtree is exported, with the public HRNet key names (no prefix).
  """
  naming = naming_of(model_kind)
  if model_kind == HRNET_KIND:
    variables = {c: {FLAX_BACKBONE: variables.get(c, {})[FLAX_BACKBONE]}
                 for c in ('params', 'batch_stats') if FLAX_BACKBONE in variables.get(c, {})}
  entries = key_table(variables, naming)
  values = {e.torch_key: to_torch_layout(_float32_or_wider(_get(variables[e.collection], e.path)))
            for e in entries}
  for module in _batch_norm_modules(entries):
    values[f'{module}.{_IGNORED_TORCH_LEAF}'] = np.zeros((), np.int64)
  order = {module: i for i, module in enumerate(_torch_module_order(entries))}
  def sort_key(key):
    module, leaf = key.rsplit('.', 1)
    return order[module], _TORCH_LEAF_ORDER.index(leaf)
  prefix = TORCH_BACKBONE + '.'
  strip = model_kind == HRNET_KIND
  return {(k[len(prefix):] if strip else k): np.ascontiguousarray(values[k])
          for k in sorted(values, key=sort_key)}


_TORCH_LEAF_ORDER = ('weight', 'bias', 'running_mean', 'running_var', _IGNORED_TORCH_LEAF)


def _float32_or_wider(value) -> np.ndarray:
  """float32 (bfloat16 widened), float64 kept: a float64 cross-check exports float64."""
  value = np.asarray(value)
  return value.astype(np.promote_types(value.dtype, np.float32))


def _natural(path: str):
  """Sort key that orders `layers.10` after `layers.9`."""
  return [(0, int(p), '') if p.isdigit() else (1, 0, p) for p in path.split('.')]


def _torch_module_order(entries: list[Entry]) -> list[str]:
  modules = {e.torch_key.rsplit('.', 1)[0] for e in entries}
  return sorted(modules, key=_natural)


def _get(tree: Mapping[str, Any], path: tuple[str, ...]):
  for name in path:
    tree = tree[name]
  return tree


def variables_to_torch_state_dict(variables: Mapping[str, Any], model_kind: str = DEFAULT_KIND):
  """`variables_to_state_dict` as torch tensors (an OrderedDict for `load_state_dict`)."""
  import collections  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  return collections.OrderedDict(
      (k, torch.from_numpy(np.array(v))) for k, v in
      variables_to_state_dict(variables, model_kind).items())


# ----------------------------------------------------------------------------------------------
# Files


_ZIP_MAGIC = b'PK\x03\x04'      # torch.save since PyTorch 1.6
_PICKLE_PROTO = b'\x80'         # the legacy format: pickles, protocol 2 and up


def _file_start(path: str, count: int = 16) -> bytes:
  with open(path, 'rb') as f:
    return f.read(count)


def load_torch_checkpoint(path: str, trust_pickle: bool = False) -> dict[str, np.ndarray]:
  """Reads a .pth: a bare state_dict or {'state_dict': ...}; tensors become numpy arrays.

  Loads with `weights_only=True` (no arbitrary code from the pickle) unless `trust_pickle`.
  """
  import torch  # pylint: disable=g-import-not-at-top
  try:
    checkpoint = torch.load(path, map_location='cpu', weights_only=not trust_pickle)
  except FileNotFoundError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    try:
      head = _file_start(path)
    except OSError:   # a folder or an unreadable path: torch's own error says enough
      raise ConversionError(f'{path}: cannot read it as a PyTorch checkpoint '
                            f'({type(e).__name__}: {e})') from e
    if not (head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO)):
      raise ConversionError(
          f'{path}: not a PyTorch checkpoint (torch.save writes a zip archive or a pickle; '
          f'this file starts with {head!r})') from e
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if not trust_pickle and 'weights_only' in str(e):   # only this refusal is cured by trust
      detail = next((line for line in lines if 'Unsupported global' in line), '')
      raise ConversionError(
          f'{path}: holds pickled objects besides tensors, which the safe loader '
          f'(torch.load weights_only=True) refuses' + (f' ({detail})' if detail else '')
          + '; if you trust the file, retry with --trust-pickle.') from e
    raise ConversionError(f'{path}: cannot read it as a PyTorch checkpoint '
                          f'({type(e).__name__}: {(lines or [""])[0][:300]})') from e
  if isinstance(checkpoint, Mapping) and 'state_dict' in checkpoint:
    checkpoint = checkpoint['state_dict']
  if not isinstance(checkpoint, Mapping):
    raise ConversionError(f'{path}: expected a state_dict or {{"state_dict": ...}}, got a '
                          f'{type(checkpoint).__name__}')
  state_dict = {}
  for key, value in checkpoint.items():
    if not isinstance(value, torch.Tensor):
      raise ConversionError(f'{path}: entry {key!r} is a {type(value).__name__}, not a tensor '
                            '(is this a state_dict?)')
    state_dict[str(key)] = _as_numpy(value)
  return state_dict


def to_jax(variables: Mapping[str, Any]) -> dict[str, Any]:
  """Numpy variables as jax arrays (for module.apply)."""
  return jax.tree_util.tree_map(jnp.asarray, dict(variables))
