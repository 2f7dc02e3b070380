"""Checkpoints: save/restore, retention, the workdir's config, damaged files, init_from."""

import errno
import json
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import posetrack17
from data_pipeline import atomic_files
from famipose_jax.runtime import sharding
from famipose_jax.runtime import stop_signal
from famipose_jax.checkpoints import workdir_errors
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import init_from
from famipose_jax.checkpoints import workdir_binding
from tests.train_support import snapshot_files


def _state(value: float):
  return {'w': jnp.full((3, 2), value, jnp.float32), 'step': jnp.asarray(7, jnp.int32),
          'nested': {'b': jnp.arange(4, dtype=jnp.float32) * value}}


def _abstract(state):
  replicated = sharding.replicated(sharding.make_mesh(jax.devices()[:1]))
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), state)


def _config(**changes):
  config = posetrack17.get_config()
  for name, value in changes.items():
    section, field = name.split('.')
    config[section][field] = value
  return config


def test_save_restore_keep_last(tmp_path):
  ckpt = checkpointer.Checkpointer(str(tmp_path), _config(), save_every_steps=2, keep=2)
  for step in range(1, 7):
    ckpt.save(step, _state(float(step)), {'epoch': step / 3})
  ckpt.wait()
  assert ckpt.all_steps() == [4, 6]         # interval 2, keep the last 2
  assert ckpt.save(7, _state(7.0), {}, force=True)
  ckpt.wait()
  assert ckpt.latest_step() == 7
  state, meta = ckpt.restore(6, _abstract(_state(0.0)))
  np.testing.assert_array_equal(state['w'], np.full((3, 2), 6.0))
  np.testing.assert_array_equal(state['nested']['b'], np.arange(4) * 6.0)
  assert meta['epoch'] == 2.0 and meta['step'] == 6
  assert meta['config']['model.head'] == 'heatmap' and meta['config']['optim.learning_rate'] == 1e-3
  ckpt.close()


def test_corrupt_checkpoint_names_the_step_dir(tmp_path):
  ckpt = checkpointer.Checkpointer(str(tmp_path), _config(), save_every_steps=1, keep=3)
  ckpt.save(5, _state(5.0), {})
  ckpt.wait()
  step_dir = ckpt.step_dir(5)
  damaged = 0
  for root, _, files in os.walk(os.path.join(step_dir, 'state')):
    for name in files:
      with open(os.path.join(root, name), 'r+b') as f:
        f.truncate(3)
      damaged += 1
  assert damaged >= 3
  before = snapshot_files(str(tmp_path))
  with pytest.raises(checkpointer.CheckpointError, match=f'checkpoint {step_dir} is corrupt'):
    ckpt.restore(5, _abstract(_state(0.0)))
  assert snapshot_files(str(tmp_path)) == before
  ckpt.close()


def test_checkpoint_of_another_config_is_refused(tmp_path):
  ckpt = checkpointer.Checkpointer(str(tmp_path), _config(), save_every_steps=1, keep=3)
  ckpt.save(1, _state(1.0), {})
  ckpt.close()
  # A runtime field may differ; a field that shapes the state may not.
  same = checkpointer.Checkpointer(str(tmp_path), _config(**{'data.root': '/x'}),
                                    save_every_steps=1, keep=3)
  assert same.restore(1, _abstract(_state(0.0)))[1]['step'] == 1
  same.close()
  other = checkpointer.Checkpointer(str(tmp_path), _config(**{'model.head': 'simcc'}),
                                     save_every_steps=1, keep=3)
  with pytest.raises(checkpointer.CheckpointError,
                     match="different config:\n  model.head: 'heatmap' in the workdir, "
                     "'simcc' now"):
    other.restore(1, _abstract(_state(0.0)))
  other.close()


def test_bind_workdir_records_and_refuses_other_configs(tmp_path):
  config = posetrack17.get_config()
  workdir_binding.bind_workdir(str(tmp_path), config)
  with open(tmp_path / workdir_binding.CONFIG_FILE) as f:
    recorded = json.load(f)
  assert recorded['config']['model.head'] == 'heatmap'
  assert recorded['config']['optim.lr_decay_epochs'] == [8, 12, 16]
  # Runtime fields may change between runs of one workdir.
  config.data.root = '/elsewhere'
  config.num_epochs = 30
  config.train.log_every_steps = 7
  config.eval.flip_test = True
  workdir_binding.bind_workdir(str(tmp_path), config)
  before = snapshot_files(str(tmp_path))
  config.model.famipose.gtm_channels = 8
  config.optim.learning_rate = 2e-3
  with pytest.raises(workdir_binding.ConfigMismatchError) as error:
    workdir_binding.bind_workdir(str(tmp_path), config)
  message = str(error.value)
  assert 'model.famipose.gtm_channels: 16 in the workdir, 8 now' in message
  assert 'optim.learning_rate: 0.001 in the workdir, 0.002 now' in message
  assert 'data.root' not in message
  assert snapshot_files(str(tmp_path)) == before


def test_merge_variables_places_a_bare_backbone():
  target = {'params': {'backbone': {'conv1': {'kernel': np.zeros((3, 3, 3, 4), np.float32)}},
                       'head': {'kernel': np.ones((2,), np.float32)}},
            'batch_stats': {'backbone': {'bn1': {'mean': np.zeros(4, np.float32)}}}}
  loaded = {'params': {'conv1': {'kernel': np.full((3, 3, 3, 4), 2.0)}},
            'batch_stats': {'bn1': {'mean': np.full(4, 3.0)}}}
  merged, modules = init_from.merge_variables(target, loaded, 'hrnet.ckpt')
  assert modules == ['backbone']
  np.testing.assert_array_equal(merged['params']['backbone']['conv1']['kernel'], 2.0)
  assert merged['params']['backbone']['conv1']['kernel'].dtype == np.float32
  np.testing.assert_array_equal(merged['batch_stats']['backbone']['bn1']['mean'], 3.0)
  np.testing.assert_array_equal(merged['params']['head']['kernel'], 1.0)   # kept
  bad = {'params': {'conv1': {'kernel': np.zeros((1, 1, 3, 4))}}}
  with pytest.raises(checkpointer.CheckpointError,
                     match=r'params/backbone/conv1/kernel has shape \(1, 1, 3, 4\)'):
    init_from.merge_variables(target, bad, 'hrnet.ckpt')


def test_load_variables_reads_the_converter_layout(tmp_path):
  tree = {'params': {'backbone': {'w': np.arange(3, dtype=np.float32)}},
          'batch_stats': {'backbone': {'mean': np.ones(2, np.float32)}}}
  with ocp.StandardCheckpointer() as writer:
    writer.save(str(tmp_path / init_from.VARIABLES_DIR), tree)
  loaded = init_from.load_variables(str(tmp_path))
  np.testing.assert_array_equal(loaded['params']['backbone']['w'], [0, 1, 2])
  np.testing.assert_array_equal(loaded['batch_stats']['backbone']['mean'], [1, 1])
  with pytest.raises(checkpointer.CheckpointError, match='neither a converted checkpoint'):
    init_from.load_variables(str(tmp_path / 'missing'))


def test_stop_signal_defers_sigterm_then_restores_the_handler():
  previous = signal.getsignal(signal.SIGTERM)
  with stop_signal.StopSignal() as stop, stop.saving():
    assert stop.requested is None
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop.requested == 'SIGTERM'
  assert signal.getsignal(signal.SIGTERM) is previous


def test_a_signal_whose_exception_was_replaced_still_stops_the_run():
  """jax.make_mesh turns any exception raised while it reads the devices into a ValueError about
  axis shapes: a SIGTERM arriving there (a start-up race, seen once in a full run of the suite)
  still stops the run
  as the signal, the replacement chained."""
  with pytest.raises(stop_signal.Interrupted) as stopped:
    with stop_signal.StopSignal():
      try:
        os.kill(os.getpid(), signal.SIGTERM)
      except KeyboardInterrupt as e:
        raise ValueError('`axis_shapes` passed to `make_mesh` should be ...') from e
  assert stopped.value.signal_name == 'SIGTERM'
  assert isinstance(stopped.value.__cause__, ValueError)


def test_config_json_in_a_read_only_workdir_is_one_clear_error(tmp_path, monkeypatch):
  # Tests run as root, whom chmod does not stop: the write itself is made to fail.
  def read_only(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path))

  monkeypatch.setattr(atomic_files.tempfile, 'mkstemp', read_only)
  path = tmp_path / workdir_binding.CONFIG_FILE
  with pytest.raises(workdir_errors.WorkdirWriteError) as error:
    workdir_binding.bind_workdir(str(tmp_path), posetrack17.get_config())
  assert str(error.value).startswith(f'cannot write {path}: Read-only file system;')
  assert '\n' not in str(error.value) and not path.exists()
  assert isinstance(error.value, OSError) and error.value.errno == errno.EROFS


def test_stop_signal_outside_the_loop_and_a_second_signal_stop_at_once():
  with stop_signal.StopSignal() as stop:
    with pytest.raises(stop_signal.Interrupted, match='SIGTERM during start-up or evaluation'):
      os.kill(os.getpid(), signal.SIGTERM)
    with stop.saving():
      os.kill(os.getpid(), signal.SIGINT)
      assert stop.requested == 'SIGINT'
      with pytest.raises(stop_signal.Interrupted, match='SIGTERM during training'):
        os.kill(os.getpid(), signal.SIGTERM)
      with pytest.raises(stop_signal.Interrupted):    # kept for a handler whose raise was lost
        stop.raise_pending()


def test_an_evaluation_inside_the_loop_stops_at_once():
  with stop_signal.StopSignal() as stop, stop.saving():
    with stop.at_once():
      with pytest.raises(stop_signal.Interrupted, match='SIGTERM during start-up or evaluation'):
        os.kill(os.getpid(), signal.SIGTERM)
    os.kill(os.getpid(), signal.SIGINT)        # back in the loop: the first signal saves
    assert stop.requested == 'SIGINT'
