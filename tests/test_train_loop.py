"""The training loop on a tiny synthetic dataset: outputs, bitwise resume, NaN stop, bad input."""

import glob
import json
import os
import shutil

import jax
import numpy as np
import pytest

import data_pipeline
from data_pipeline import posetrack_video as ptv
from famipose_jax.config import schema as config_schema
from famipose_jax.train import metrics
from famipose_jax.train import loop as trainer
from famipose_jax.train import stages
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import init_from
from famipose_jax.checkpoints import verified_read
from famipose_jax.checkpoints import workdir_binding
from tests.train_support import edit_training_batches, flip_array_bytes, smoke_config
from tests.train_support import snapshot_files


def _steps_per_epoch(config):
  return len(data_pipeline.build_dataset(config.data, 'train')) // config.batch_size


def _latest_state(workdir):
  """The latest checkpoint's TrainState as a pytree of numpy arrays."""
  ckpt_dir = os.path.join(workdir, checkpointer.CHECKPOINT_DIR)
  step = max(int(s) for s in os.listdir(ckpt_dir) if s.isdigit())
  return step, verified_read.read_step_dir(os.path.join(ckpt_dir, str(step)))[1]



@pytest.mark.slow
def test_two_stage_run_trains_fami_pose_on_the_stage_one_backbone(tmp_path, compile_cache,
                                                                   tiny_dataset):
  config = smoke_config(tiny_dataset, **{'train.pretrain_epochs': 1,
                                         'train.pretrain_lr_decay_epochs': (1,)})
  workdir = str(tmp_path / 'run')
  summary = trainer.train_and_evaluate(config, workdir)
  pre_dir = os.path.join(workdir, stages.PRETRAIN_DIR)
  assert summary.pretrain is not None and summary.pretrain.workdir == pre_dir
  assert sorted(summary.pretrain.evaluation['mAP']) == ['final']
  assert sorted(summary.evaluation['mAP']) == ['backbone', 'final']
  with open(os.path.join(pre_dir, workdir_binding.CONFIG_FILE)) as f:
    stage1 = json.load(f)['config']
  assert (stage1['model.family'], stage1['data.supporting_offsets']) == ('single_frame', [])
  # Stage 2 starts from stage 1's backbone and leaves its weights alone (frozen); only the
  # BatchNorm statistics move (the published frozen backbone stays in training mode).
  _, first = _latest_state(pre_dir)
  _, second = _latest_state(workdir)
  first_leaves = jax.tree_util.tree_leaves_with_path(first['params']['model']['backbone'])
  second_backbone = second['params']['model']['backbone']
  assert len(first_leaves) == len(jax.tree_util.tree_leaves(second_backbone)) > 0
  for (path, a), b in zip(first_leaves, jax.tree_util.tree_leaves(second_backbone)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
  assert set(second['params']['model']) > {'backbone'}


@pytest.fixture(scope='module')
def trained_workdir(tmp_path_factory, compile_cache, tiny_dataset):
  """A workdir after one epoch of the smoke config (no evaluation)."""
  workdir = str(tmp_path_factory.mktemp('trained') / 'run')
  trainer.train(smoke_config(tiny_dataset), workdir)
  return workdir


def test_train_and_evaluate_writes_everything(tmp_path, compile_cache, tiny_dataset):
  config = smoke_config(tiny_dataset)
  workdir = str(tmp_path / 'run')
  summary = trainer.train_and_evaluate(config, workdir)
  steps = _steps_per_epoch(config)
  assert steps >= 8 and summary.step == summary.total_steps == steps
  assert summary.checkpoint == os.path.join(workdir, 'checkpoints', str(steps))

  with open(os.path.join(workdir, trainer.RESULTS_FILE)) as f:
    results = json.load(f)
  assert results['step'] == steps and sorted(results['mAP']) == ['backbone', 'final']
  assert all(0.0 <= v <= 100.0 for v in results['mAP'].values())
  assert '| backbone only |' in results['table'] and '| FAMI-Pose     |' in results['table']

  # One prediction file per ground-truth video, every frame present, in both rows.
  gt_files = sorted(glob.glob(os.path.join(tiny_dataset, 'annotations', 'val', '*.json')))
  assert len(gt_files) == 1
  for row in ('backbone', 'final'):
    predicted = sorted(glob.glob(os.path.join(results['prediction_dir'], row, '*.json')))
    assert [os.path.basename(p) for p in predicted] == [os.path.basename(p) for p in gt_files]
    gt, pred = ptv.read_video(gt_files[0]), ptv.read_video(predicted[0], ptv.PREDICTIONS)
    assert [f.file_name for f in pred.frames] == [f.file_name for f in gt.frames]
  assert os.path.getsize(results['image']) > 1000

  with open(os.path.join(workdir, metrics.METRICS_FILE)) as f:
    records = [json.loads(line) for line in f]
  train_records = [r for r in records if r['kind'] == 'train']
  assert [r['step'] for r in train_records] == list(range(2, steps, 2)) + [steps]
  for key in ('loss', 'task_loss', 'mi_loss', 'mi/mi_1', 'mi/mi_6', 'grad_norm', 'learning_rate',
              'clips_per_second', 'epoch'):
    assert key in train_records[-1], key
  assert train_records[-1]['epoch'] == 1.0
  evals = [r for r in records if r['kind'] == 'eval']
  assert len(evals) == 1 and evals[0]['final/mAP'] == pytest.approx(results['mAP']['final'])
  events = glob.glob(os.path.join(workdir, metrics.TENSORBOARD_DIR, 'events.out.tfevents.*'))
  scalars = metrics.read_event_scalars(events[0])
  assert [s for s, _ in scalars['train/loss']] == [r['step'] for r in train_records]
  assert scalars['eval/final/mAP'][0][0] == steps

  # Running again finds the finished run and its results: nothing is retrained or rewritten.
  before = snapshot_files(os.path.join(workdir, 'checkpoints'))
  again = trainer.train_and_evaluate(config, workdir)
  assert again.evaluation['mAP'] == results['mAP']
  assert snapshot_files(os.path.join(workdir, 'checkpoints')) == before


def test_resume_is_bitwise_identical(tmp_path, compile_cache, tiny_dataset, trained_workdir):
  """k steps, stop, resume for k more == 2k uninterrupted (params, Adam moments, BN, data order)."""
  config = smoke_config(tiny_dataset, num_epochs=2)
  full = str(tmp_path / 'full')
  trainer.train(config, full)
  resumed = str(tmp_path / 'resumed')
  shutil.copytree(trained_workdir, resumed)          # stopped after epoch 1
  summary = trainer.train(config, resumed)
  steps = 2 * _steps_per_epoch(config)
  assert summary.step == steps
  step_a, state_a = _latest_state(full)
  step_b, state_b = _latest_state(resumed)
  assert step_a == step_b == steps
  leaves_a = jax.tree_util.tree_leaves_with_path(state_a)
  leaves_b = jax.tree_util.tree_leaves(state_b)
  assert len(leaves_a) == len(leaves_b) > 100
  for (path, a), b in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
  # The logged losses agree exactly too, once the logging intervals realign (a log line
  # averages the steps since the previous one, and the first run logged its last step).
  def losses(workdir):
    with open(os.path.join(workdir, metrics.METRICS_FILE)) as f:
      return {r['step']: r['loss'] for r in map(json.loads, f) if r['kind'] == 'train'}
  late = {s: v for s, v in losses(full).items() if s > steps // 2 + 2}
  assert len(late) >= 3 and late == {s: v for s, v in losses(resumed).items()
                                     if s > steps // 2 + 2}


def _poison_targets_from(monkeypatch, first_bad_step):
  """Training batches whose heatmap targets turn NaN from step `first_bad_step` (0-based) on."""

  def poison(step, fetch):
    batch = fetch()
    if step >= first_bad_step:
      batch['heatmap'][...] = np.nan
    return batch

  edit_training_batches(monkeypatch, poison)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch,
                                                                  compile_cache, tiny_dataset):
  _poison_targets_from(monkeypatch, 6)
  workdir = str(tmp_path / 'run')
  with pytest.raises(trainer.NonFiniteLossError) as error:
    trainer.train(smoke_config(tiny_dataset), workdir)
  last_good = os.path.join(workdir, 'checkpoints', '4')
  assert 'non-finite loss at step 7 ' in str(error.value)
  assert f'the last good checkpoint is {last_good}' in str(error.value)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == ['4']
  step, state = _latest_state(workdir)
  assert step == 4 and int(state['step']) == 4
  assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(state['params']))


def test_non_finite_loss_before_any_checkpoint_says_none_was_saved(tmp_path, monkeypatch,
                                                                    compile_cache, tiny_dataset):
  _poison_targets_from(monkeypatch, 0)
  with pytest.raises(trainer.NonFiniteLossError) as error:
    trainer.train(smoke_config(tiny_dataset), str(tmp_path / 'run'))
  assert str(error.value).endswith('). Stopped; no checkpoint was saved before this step.')


def test_a_failing_close_does_not_replace_the_error_in_flight(tmp_path, monkeypatch,
                                                              compile_cache, tiny_dataset):
  """The loop stops on a non-finite loss; closing the checkpoints then fails too (before: the
  CheckpointError replaced the NonFiniteLossError). The user sees the first cause, and the
  second as a note."""
  _poison_targets_from(monkeypatch, 0)
  real_close = checkpointer.Checkpointer.close

  def failing_close(self):
    real_close(self)
    raise checkpointer.CheckpointError(f'cannot write checkpoint 9 to {self.directory}: '
                                       'No space left on device')

  monkeypatch.setattr(checkpointer.Checkpointer, 'close', failing_close)
  with pytest.raises(trainer.NonFiniteLossError) as error:
    trainer.train(smoke_config(tiny_dataset), str(tmp_path / 'run'))
  assert error.value.__notes__ == [
      'closing the checkpoints failed as well: cannot write checkpoint 9 to '
      f'{tmp_path / "run" / "checkpoints"}: No space left on device']


def test_programmatic_config_errors_touch_nothing(tmp_path, tiny_dataset):
  workdir = str(tmp_path / 'run')
  config = smoke_config(tiny_dataset)
  config.train.log_every_step = 5                  # misspelt
  with pytest.raises(config_schema.ConfigError,
                     match=r"train.log_every_step \(did you mean 'train.log_every_steps'\?\)"):
    trainer.train_and_evaluate(config, workdir)
  config = smoke_config(tiny_dataset, **{'model.head': 'simc'})
  with pytest.raises(config_schema.ConfigError,
                     match=r"config.model.head='simc' is not one of \('heatmap', 'simcc'\)"):
    trainer.train_and_evaluate(config, workdir)
  assert not os.path.exists(workdir)


def test_workdir_of_another_config_is_refused(tmp_path, tiny_dataset):
  workdir = str(tmp_path / 'run')
  workdir_binding.bind_workdir(workdir, smoke_config(tiny_dataset))
  os.makedirs(os.path.join(workdir, 'checkpoints', '3'))
  before = snapshot_files(workdir)
  other = smoke_config(tiny_dataset, **{'model.family': 'single_frame',
                                        'model.freeze_backbone': False})
  with pytest.raises(workdir_binding.ConfigMismatchError,
                     match=f'workdir {workdir} holds a run of a different config'):
    trainer.train_and_evaluate(other, workdir)
  assert snapshot_files(workdir) == before


def test_checkpoints_of_another_config_are_refused_without_config_json(tmp_path, tiny_dataset,
                                                                      trained_workdir):
  """With config.json gone, the checkpoint's own config refuses the run before it rewrites it."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)
  os.remove(os.path.join(workdir, workdir_binding.CONFIG_FILE))
  before = snapshot_files(workdir)
  other = smoke_config(tiny_dataset, **{'model.famipose.gtm_channels': 8})
  with pytest.raises(checkpointer.CheckpointError, match='another config|different config'):
    trainer.train(other, workdir)
  assert not os.path.exists(os.path.join(workdir, workdir_binding.CONFIG_FILE))
  assert snapshot_files(workdir) == before


def test_corrupt_checkpoint_is_named_and_left_alone(tmp_path, tiny_dataset, trained_workdir):
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)
  step, _ = _latest_state(workdir)
  step_dir = os.path.join(workdir, 'checkpoints', str(step))
  for path in glob.glob(os.path.join(step_dir, 'state', '**', 'd', '*'), recursive=True):
    with open(path, 'r+b') as f:
      f.truncate(5)
  before = snapshot_files(workdir)
  with pytest.raises(checkpointer.CheckpointError,
                     match=f'checkpoint {step_dir} is corrupt or incomplete'):
    trainer.train(smoke_config(tiny_dataset, num_epochs=2), workdir)
  assert snapshot_files(workdir) == before


def test_a_damaged_checkpoint_is_refused_as_init_from_naming_the_folder(tmp_path,
                                                                       trained_workdir):
  """init_from verifies a workdir's checkpoint as a restore does: a damaged one would otherwise
  initialise a run silently (before: it loaded)."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)
  step, _ = _latest_state(workdir)
  step_dir = os.path.join(workdir, 'checkpoints', str(step))
  flip_array_bytes(step_dir)
  with pytest.raises(checkpointer.CorruptCheckpointError,
                     match=f'init_from={workdir}: checkpoint {step_dir} is corrupt: '
                     r'\S+ does not match the checksum saved with it'):
    init_from.load_variables(workdir)


def test_bit_flipped_newest_checkpoint_stops_the_run_or_falls_back(tmp_path, compile_cache,
                                                                  tiny_dataset, trained_workdir):
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained_workdir, workdir)
  checkpoints = os.path.join(workdir, 'checkpoints')
  steps = sorted(int(s) for s in os.listdir(checkpoints) if s.isdigit())
  newest = os.path.join(checkpoints, str(steps[-1]))
  flip_array_bytes(newest)
  before = snapshot_files(workdir)
  with pytest.raises(checkpointer.CheckpointError,
                     match=f'checkpoint {newest} is corrupt.*on_corrupt_checkpoint=fall_back'):
    trainer.train(smoke_config(tiny_dataset), workdir)
  assert snapshot_files(workdir) == before
  # Falling back resumes from the previous checkpoint and trains the lost steps again.
  summary = trainer.train(smoke_config(tiny_dataset, **{
      'train.on_corrupt_checkpoint': 'fall_back'}), workdir)
  assert summary.step == steps[-1] and summary.checkpoint == newest
  assert os.listdir(os.path.join(workdir, checkpointer.CORRUPT_DIR)) == [str(steps[-1])]
  assert sorted(int(s) for s in os.listdir(checkpoints) if s.isdigit()) == steps
  _, state = _latest_state(workdir)
  assert all(np.isfinite(x).all() for x in jax.tree_util.tree_leaves(state['params']))
