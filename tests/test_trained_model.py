"""Loading a trained network for prediction: workdir, checkpoint folder, model folder.

The checkpoints here are fresh smoke-model states saved by the trainer's Checkpointer (no
training: what is read back is what matters), so the file runs in seconds.
"""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from configs import posetrack17_simcc
from configs import synthetic
from famipose_jax.config import schema as config_schema
from famipose_jax import experiment as experiment_lib
from famipose_jax.runtime import sharding
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import trained_model
from famipose_jax.checkpoints import workdir_binding
from train_support import flip_array_bytes
from train_support import smoke_config


def _same_arrays(a, b) -> bool:
  la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


@pytest.fixture(scope='module')
def saved_workdir(tmp_path_factory):
  """A workdir with checkpoints at steps 3 and 5 (5 with different params) and its config."""
  workdir = str(tmp_path_factory.mktemp('trained') / 'run')
  config = smoke_config('/nonexistent')
  mesh = sharding.make_mesh()
  experiment = experiment_lib.Experiment(config)
  state = experiment.init_state(mesh)
  os.makedirs(workdir)
  workdir_binding.bind_workdir(workdir, config)
  ckpt = checkpointer.Checkpointer(workdir, config, save_every_steps=1, keep=5, use_async=False)
  ckpt.save(3, state, {'epoch': 0}, force=True)
  later = state.replace(params=jax.tree_util.tree_map(lambda x: x + 1, state.params))
  ckpt.save(5, later, {'epoch': 1}, force=True)
  ckpt.close()
  return workdir, config, jax.device_get(experiment_lib.model_variables(state)), \
      jax.device_get(experiment_lib.model_variables(later))


@pytest.mark.parametrize('make', [lambda: synthetic.get_config(),
                                  lambda: synthetic.get_config('smoke'),
                                  posetrack17_simcc.get_config])
def test_a_recorded_config_reads_back_as_the_same_config(make):
  config = make()
  record = workdir_binding.flat_config(config)
  again = workdir_binding.config_from_record(json.loads(json.dumps(record)), 'test')
  assert workdir_binding.flat_config(again) == record
  assert isinstance(again.model.image_size, tuple)
  assert again.data.flip_pairs == config.data.flip_pairs


def test_a_record_with_an_unknown_field_is_refused_by_name():
  record = workdir_binding.flat_config(synthetic.get_config('smoke'))
  record['model.hrnet_magic'] = 3
  with pytest.raises(config_schema.ConfigError,
                     match=r'somewhere/config.json: .*model.hrnet_magic'):
    workdir_binding.config_from_record(record, 'somewhere/config.json')


def test_a_workdir_gives_its_newest_checkpoint_and_a_step_folder_its_own(saved_workdir):
  workdir, config, first, later = saved_workdir
  model = trained_model.load_trained_model(workdir)
  assert (model.step, model.source) == (5, os.path.join(workdir, 'checkpoints', '5'))
  assert workdir_binding.flat_config(model.config) == workdir_binding.flat_config(config)
  assert _same_arrays(model.variables, later)
  model = trained_model.load_trained_model(os.path.join(workdir, 'checkpoints', '3'))
  assert model.step == 3 and _same_arrays(model.variables, first)


def test_a_model_folder_round_trips_and_is_written_all_or_nothing(saved_workdir, tmp_path):
  workdir, config, _, later = saved_workdir
  model = trained_model.load_trained_model(workdir)
  out = trained_model.save_model_folder(str(tmp_path / 'model'), model.config, model.variables)
  assert sorted(os.listdir(out)) == ['config.json', 'variables']
  again = trained_model.load_trained_model(out)
  assert again.step is None and _same_arrays(again.variables, later)
  with pytest.raises(FileExistsError, match='refusing to overwrite'):
    trained_model.save_model_folder(out, model.config, model.variables)
  assert sorted(os.listdir(tmp_path)) == ['model']   # no staging folder left behind


def test_a_damaged_checkpoint_is_named_not_predicted_with(saved_workdir, tmp_path):
  workdir, *_ = saved_workdir
  copy = str(tmp_path / 'run')
  shutil.copytree(workdir, copy)
  flip_array_bytes(os.path.join(copy, 'checkpoints', '5'))
  with pytest.raises(checkpointer.CorruptCheckpointError,
                     match=r'checkpoints/5 is corrupt: .* does not match the checksum'):
    trained_model.load_trained_model(copy)


def test_a_network_of_another_config_is_refused_with_counts(saved_workdir, tmp_path):
  workdir, *_ = saved_workdir
  model = trained_model.load_trained_model(workdir)
  out = trained_model.save_model_folder(str(tmp_path / 'model'), model.config, model.variables)
  other = synthetic.get_config()
  trained_model.write_config_record(out, other)   # a config.json of another network
  with pytest.raises(checkpointer.CheckpointError,
                     match=r'does not hold the network its config describes .*of \d+ variables, '
                           r'\d+ with another shape, e\.g\. '):
    trained_model.load_trained_model(out)


def test_a_given_config_may_differ_from_the_recorded_one_only_at_run_time(saved_workdir):
  workdir, config, *_ = saved_workdir
  changed = smoke_config('/elsewhere')              # data.root: a runtime field
  changed.eval.flip_test = True                     # so is the evaluation section
  assert trained_model.load_trained_model(workdir, changed).config.eval.flip_test
  changed.data.box_enlarge = 1.5                    # same shapes, other crops: refused
  changed.data.supporting_offsets = (-2, 2)
  with pytest.raises(config_schema.ConfigError,
                     match=r'(?s)the config given differs from the one recorded with .*'
                           r'data.box_enlarge: 1.25 recorded, 1.5 now.*'
                           r'data.supporting_offsets: \[-1, 1\] recorded, \[-2, 2\] now'):
    trained_model.load_trained_model(workdir, changed)


def test_a_folder_without_a_model_and_a_config_less_conversion_are_explained(saved_workdir,
                                                                             tmp_path):
  with pytest.raises(FileNotFoundError, match='is not a trained model: expected a training '
                                              'workdir'):
    trained_model.load_trained_model(str(tmp_path))
  workdir, config, *_ = saved_workdir
  model = trained_model.load_trained_model(workdir)
  out = trained_model.save_model_folder(str(tmp_path / 'model'), model.config, model.variables)
  os.remove(os.path.join(out, 'config.json'))
  with pytest.raises(config_schema.ConfigError, match='records no config .*pass the config'):
    trained_model.load_trained_model(out)
  assert _same_arrays(trained_model.load_trained_model(out, config).variables, model.variables)
