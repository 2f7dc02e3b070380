"""An experiment: everything one validated config builds, wired once.

    experiment = Experiment(config, steps_per_epoch)
    train_set = experiment.dataset('train')           # only the targets this run reads
    state = experiment.init_state(mesh)               # or restore into abstract_state(mesh)
    step = experiment.train_step(mesh)                # jitted (state, batch) -> (state, metrics)
    predict = experiment.predict_fn()                 # (variables, batch) -> decoded joints

The trainer, the evaluation, the predictor, export, the benchmarks and the tests all build
through it. The model family (models/registry.py) supplies the network, the frames a sample
holds (decided here once, `clip`), its objective and what it trains; the experiment adds the
head and its codec, the optimiser and the compiled functions. Each is built when first used:
prediction and export build no objective, no critic and no optimiser.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

import data_pipeline
from data_pipeline import batch_plan
from data_pipeline.clip_frames import ClipSpec
from famipose_jax import heads
from famipose_jax import models
from famipose_jax.config import schema as config_schema
from famipose_jax.heads import decoding
from famipose_jax.models import inputs
from famipose_jax.models import registry
from famipose_jax.runtime import compiler_options
from famipose_jax.train import optim
from famipose_jax.train import state as train_state_lib
from famipose_jax.train import step as train_step_lib


def steps_per_epoch(config: ml_collections.ConfigDict, num_train_samples: int) -> int:
  """Optimiser updates per epoch: the batch plan's full global batches."""
  if num_train_samples < config.batch_size:
    raise config_schema.ConfigError(
        f'config.batch_size={config.batch_size} is more than the {num_train_samples} training '
        f'samples under {config.data.root!r}: not one batch per epoch')
  return batch_plan.BatchPlan(num_samples=num_train_samples, batch_size=config.batch_size,
                              train=True).steps_per_epoch


class Experiment:
  """The model, head, objective and optimiser of a config, and the functions built on them.

  Attributes:
    config: the experiment config (validated by the caller).
    family: its model family (models/registry.py).
    model: the family's network.
    head: heads.HeatmapHead or heads.SimCCHead (task loss, targets, decoding).
    clip: the frames a sample holds (data_pipeline.clip_frames.ClipSpec).
  """

  def __init__(self, config: ml_collections.ConfigDict, steps_per_epoch: int | None = None):
    """`steps_per_epoch` shapes only the learning-rate schedule, not the state: without it the
    experiment restores, evaluates and builds datasets, but refuses to build a train step."""
    self.config = config
    self.family = registry.of(config)
    self.steps_per_epoch = steps_per_epoch
    self.model = models.build_model(config.model)
    self.head = heads.build_head(config)
    self.clip: ClipSpec = inputs.clip_of(config)

  # --- what training adds, built on first use -------------------------------------------------

  @functools.cached_property
  def objective(self) -> registry.Objective | None:
    """The family's loss terms beside the head's (None: the head's loss alone)."""
    return self.family.objective(self.config)

  @property
  def critic(self):
    """The objective's own trained module (state.params['critic']), or None."""
    return self.objective.critic if self.objective is not None else None

  @functools.cached_property
  def tx(self) -> optax.GradientTransformation:
    """The optimiser; its state carries the learning rate (optim.current_learning_rate).

    Without steps_per_epoch its schedule is a stand-in: the state's structure does not depend
    on the schedule, so it serves to restore a checkpoint, and `train_step` refuses it.
    """
    return optim.make_optimizer(self.config, self.steps_per_epoch or 1,
                                frozen=self.family.frozen(self.config.model))

  # --- what the data pipeline builds and the device reads -----------------------------------

  @property
  def target_codecs(self) -> tuple:
    """The head's codec first (its weights are 'target_weight'), then what the objective reads."""
    codecs = [self.head.codec]
    if (self.objective is not None and self.objective.reads_heatmap_targets
        and not isinstance(self.head.codec, heads.HeatmapCodec)):
      codecs.append(heads.heatmap_codec(self.config))
    return tuple(codecs)

  @property
  def input_keys(self) -> tuple[str, ...]:
    return self.family.inputs

  def input_shapes(self, batch_size: Any) -> dict[str, tuple]:
    """{input name: (shape, dtype)} of a batch: uint8 images, int32 frame offsets."""
    return inputs.input_shapes(self.config.model, batch_size, len(self.clip.offsets))

  def empty_batch(self, batch_size: int) -> dict[str, np.ndarray]:
    """Zero network inputs for `batch_size` clips (what the predictor fills)."""
    return {name: np.zeros(shape, dtype)
            for name, (shape, dtype) in self.input_shapes(batch_size).items()}

  @property
  def train_keys(self) -> tuple[str, ...]:
    """The batch entries the train step reads on the device."""
    targets = tuple(name for codec in self.target_codecs for name in codec.target_keys)
    return self.input_keys + targets + ('target_weight',)

  @property
  def prediction_names(self) -> tuple[str, ...]:
    """What predict_fn returns: 'final', and 'backbone' (the backbone's own heatmaps) for a
    family that scores them (the single-frame network's 'final' already is)."""
    return ('backbone', 'final') if self.family.scores_backbone else ('final',)

  @property
  def prediction_labels(self) -> dict[str, str]:
    """Prediction name -> table row: 'backbone only' and the family's label."""
    return {'backbone': 'backbone only', 'final': self.family.label}

  @property
  def raw_output_names(self) -> tuple[str, ...]:
    """The network outputs the predictions decode (`predict_fn(raw_outputs=True)`): the
    head's ('heatmaps', or 'simcc_x' and 'simcc_y'), and 'backbone_heatmaps' when scored."""
    backbone = ('backbone_heatmaps',) if 'backbone' in self.prediction_names else ()
    return self.head.output_keys + backbone

  def dataset(self, split: str) -> data_pipeline.ClipDataset:
    """The split's ClipDataset; val elements carry no training targets (nothing reads them)."""
    codecs = self.target_codecs if split == 'train' else ()
    return data_pipeline.build_dataset(self.config.data, split, codecs=codecs, clip=self.clip)

  # --- state -------------------------------------------------------------------------------

  def init_state(self, mesh: Mesh) -> train_state_lib.TrainState:
    """A fresh state (config.seed), every leaf replicated over the mesh."""
    return train_state_lib.create_train_state(self, mesh)

  def abstract_state(self, mesh: Mesh) -> train_state_lib.TrainState:
    """ShapeDtypeStructs with shardings of the state, to restore a checkpoint into place."""
    return train_state_lib.abstract_train_state(self, mesh)

  def init_model_variables(self, mesh: Mesh) -> dict[str, Any]:
    """The network's fresh {'params', 'batch_stats'} alone (evaluation from init_from)."""
    return train_state_lib.init_model_variables(self, mesh)

  def example_inputs(self, batch_size: int = 1) -> tuple:
    """Zero network inputs (float32 images) of the clip's shapes, in call order."""
    return inputs.example_inputs(self.config.model, batch_size, len(self.clip.offsets))

  # --- compiled functions ------------------------------------------------------------------

  def train_step(self, mesh: Mesh) -> Callable:
    """The jitted, donating (state, batch) -> (state, metrics) step."""
    if self.steps_per_epoch is None:
      raise ValueError('Experiment(config) without steps_per_epoch has no learning-rate schedule '
                       'to train with: pass steps_per_epoch(config, len(train_set))')
    state = self.abstract_state(mesh)
    labels = optim.param_labels(state.params, self.family.frozen(self.config.model))
    step_fn = train_step_lib.make_train_step(self.model, self.head, self.objective, self.tx,
                                             labels, self.config)
    return train_step_lib.jit_train_step(step_fn, state, mesh)

  def jit_predict(self) -> Callable[[Any, dict], dict]:
    """`predict_fn()` jitted with the compiler options (runtime/compiler_options.py)."""
    return compiler_options.jit(self.predict_fn())

  def predict_fn(self, *, raw_outputs: bool = False) -> Callable[[Any, dict], dict]:
    """Pure (variables, batch) -> {'final': {'coords', 'maxvals'}, 'backbone': ...}.

    coords [B, K, 2] in input-crop pixels; 'final' is the head's prediction, 'backbone' the
    backbone's own heatmaps (families that score them). With config.eval.flip_test the
    mirrored input's outputs are flipped back and averaged first. The names are
    `prediction_names`.

    Args:
      raw_outputs: also return 'raw_outputs': {name: the float32 network output that was
        decoded}, for the names in `raw_output_names` (after the flip-test average).
    """
    config = self.config
    model = self.model
    decode = decoding.make_decoder(config, self.head)
    names = self.prediction_names
    raw_names = self.raw_output_names
    flip_pairs = tuple(tuple(p) for p in config.data.flip_pairs)
    image_keys = [i for i, key in enumerate(self.input_keys) if key in inputs.IMAGE_KEYS]

    def predict(variables, batch):
      args = inputs.network_inputs(batch, config)
      outputs = model.apply(variables, *args, train=False)
      if config.eval.flip_test:
        mirrored = [decoding.flip_images(a) if i in image_keys else a
                    for i, a in enumerate(args)]
        flipped = model.apply(variables, *mirrored, train=False)
        outputs = decoding.fuse_flipped_outputs(outputs, flipped, flip_pairs,
                                                shift_heatmap=config.eval.flip_shift_heatmap)
      result = {name: {'coords': coords, 'maxvals': maxvals}
                for name, (coords, maxvals) in decode(outputs).items() if name in names}
      if raw_outputs:
        result['raw_outputs'] = {name: outputs[name] for name in raw_names}
      return result

    return predict


def model_variables(state: train_state_lib.TrainState) -> dict[str, Any]:
  """The network's {'params', 'batch_stats'} of a train state (what evaluation applies)."""
  return {'params': state.params['model'], 'batch_stats': state.batch_stats}
