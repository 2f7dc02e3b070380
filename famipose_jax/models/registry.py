"""Model families: the one seam through which a video pose model plugs into the library.

`config.model.family` names a family; its `ModelFamily` record says, in one place, everything
the rest of the code needs to know about it:

  build            its Flax module, from config.model (which holds its own section)
  inputs           the batch entries the module takes, in call order
  clip             the frames a sample holds (data_pipeline.clip_frames.ClipSpec)
  section / check  its own config fields (config.model.<name>) and their rules
  scores_backbone  whether its backbone's own heatmaps are scored beside its prediction
  objective        its loss terms beside the head's (e.g. FAMI-Pose's MI), and any parameters
                   they train
  frozen           which top-level parameter subtrees it never trains
  torch_naming     how the published PyTorch state_dict names its variables (the converter)
  ablation_study   its ablation study (famipose_jax/ablation/variant.py)

The trainer, the evaluation, the predictor, export, the converter and the ablation runner ask
the family; none of them names one. Adding a family is a module that calls `register` (the
built-in ones are found lazily, listed in BUILTIN_MODULES) plus its configs. This module is pure
Python: no JAX until a family builds its network.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Mapping

import ml_collections

from data_pipeline.clip_frames import ClipSpec
from data_pipeline.errors import ConfigError

# The families that ship with the library: imported on first lookup, each registering itself.
BUILTIN_MODULES = (
    'famipose_jax.models.single_frame.family',
    'famipose_jax.models.famipose.family',
    'famipose_jax.models.dcpose.family',
    'famipose_jax.models.tdmi.family',
)

KEY_IMAGE = 'key_image'
SUPPORTING_IMAGES = 'supporting_images'
SUPPORTING_FRAME_OFFSETS = 'supporting_frame_offsets'


@dataclasses.dataclass(frozen=True)
class TorchNaming:
  """How a published PyTorch state_dict names a family's variables (interop/convert.py).

  Attributes:
    backbone: the PyTorch attribute holding the HRNet ('hrnet', 'rough_pose_estimation_net');
      the Flax backbone is always `backbone`.
    names_with_number: a regex of PyTorch attribute names that themselves end in '_<n>'
      (the naming rule would otherwise read the number as a list index).
  """
  backbone: str = 'hrnet'
  names_with_number: str = ''


@dataclasses.dataclass(frozen=True)
class Objective:
  """A family's loss terms beside the head's task loss.

  Attributes:
    compute: (outputs, batch, critic params) -> (loss, {term name: value}); float32 scalars.
    critic: a Flax module with parameters of its own (state.params['critic']), trained by the
      same gradient; initialised on the model's outputs as `critic.init(rng, outputs, batch)`.
    reads_heatmap_targets: the batch must carry the Gaussian heatmap targets whatever the head.
    label: its name in the training log line ('loss L (task T, <label> X)'); its value is the
      metric 'mi_loss' (the name FAMI-Pose's runs have always written).
  """
  compute: Callable[[dict, dict, Any], tuple[Any, dict]]
  critic: Any = None
  reads_heatmap_targets: bool = False
  label: str = 'objective'

  @classmethod
  def of_critic(cls, critic, **fields) -> 'Objective':
    """The objective that is its critic module: compute = critic.apply on its own params."""
    return cls(compute=lambda outputs, batch, params: critic.apply({'params': params}, outputs,
                                                                   batch),
               critic=critic, **fields)


def _backbone_frozen(model_config: ml_collections.ConfigDict) -> tuple[str, ...]:
  return ('backbone',) if model_config.freeze_backbone else ()


@dataclasses.dataclass(frozen=True)
class ModelFamily:
  """A model family (see the module docstring). Only name, label, build and inputs are required.

  Attributes:
    name: the value of config.model.family (and the name of its config section).
    label: the table row of its prediction, e.g. 'FAMI-Pose'.
    build: config.model -> the Flax module; called as module.apply(variables, *inputs,
      train=bool) and returning a dict with 'heatmaps' (the head's input), 'backbone_heatmaps'
      and the head's outputs (heads/).
    inputs: the batch entries the module takes, in call order: KEY_IMAGE, SUPPORTING_IMAGES,
      SUPPORTING_FRAME_OFFSETS.
    clip: whole config -> the frames a sample holds (offsets, boundary rule, frame offsets).
      Default: no supporting frames.
    section: () -> its config section's defaults (config.model.<name>), or None.
    choices: {'model.<name>.field': allowed values} of its section.
    check: config.model -> None, raising ConfigError for a section its network cannot be
      built from (models.build_model applies it).
    check_run: whole config -> None, raising ConfigError for a config the family cannot train
      or evaluate as meant (config.schema.validate_config applies it).
    scores_backbone: the backbone's own heatmaps are decoded and scored as 'backbone' too.
    objective: whole config -> Objective or None (no loss beside the head's).
    frozen: config.model -> the top-level parameter subtrees it does not train.
    torch_naming: how its published PyTorch checkpoints name its variables (None: none).
    ablation_study: () -> its ablation study (famipose_jax.ablation.variant.Study), or None.
  """
  name: str
  label: str
  build: Callable[[ml_collections.ConfigDict], Any]
  inputs: tuple[str, ...]
  clip: Callable[[ml_collections.ConfigDict], ClipSpec] = lambda config: ClipSpec()
  section: Callable[[], ml_collections.ConfigDict] | None = None
  choices: Mapping[str, tuple] = dataclasses.field(default_factory=dict)
  check: Callable[[ml_collections.ConfigDict], None] | None = None
  check_run: Callable[[ml_collections.ConfigDict], None] | None = None
  scores_backbone: bool = True
  objective: Callable[[ml_collections.ConfigDict], Objective | None] = lambda config: None
  frozen: Callable[[ml_collections.ConfigDict], tuple[str, ...]] = _backbone_frozen
  torch_naming: TorchNaming | None = None
  ablation_study: Callable[[], Any] = lambda: None

  @property
  def temporal(self) -> bool:
    """Whether it reads frames besides the key frame."""
    return SUPPORTING_IMAGES in self.inputs


_FAMILIES: dict[str, ModelFamily] = {}
_builtins_loaded = False


def _load_builtins():
  global _builtins_loaded
  if not _builtins_loaded:
    _builtins_loaded = True
    for module in BUILTIN_MODULES:
      importlib.import_module(module)


def register(family: ModelFamily) -> ModelFamily:
  """Adds `family` (a new name; re-registering the same record is a no-op)."""
  known = _FAMILIES.get(family.name)
  if known is not None and known is not family:
    raise ValueError(f'model family {family.name!r} is already registered')
  _FAMILIES[family.name] = family
  return family


def unregister(name: str) -> None:
  """Removes a family registered at run time (tests)."""
  _FAMILIES.pop(name, None)


def names() -> tuple[str, ...]:
  """Every registered family: the built-in ones in BUILTIN_MODULES order (whichever was imported
  first), then the others in the order they registered."""
  _load_builtins()
  builtin = [module.split('.')[-2] for module in BUILTIN_MODULES]
  rank = lambda name: builtin.index(name) if name in builtin else len(builtin)
  return tuple(sorted(_FAMILIES, key=rank))   # sorted is stable: the others keep their order


def get(name: str) -> ModelFamily:
  _load_builtins()
  if name not in _FAMILIES:
    raise ConfigError(f'config.model.family={name!r} is not one of {names()}')
  return _FAMILIES[name]


def of(config: ml_collections.ConfigDict) -> ModelFamily:
  """The family of an experiment config (or of its model section)."""
  model = config.model if 'model' in config else config
  return get(model.family)
