"""A start that fails leaves the workdir as it was, and fails before the first step.

Every check the config and the data allow (the config schema, the batch size against the
dataset, the network's shapes, the evaluation inputs) runs before the workdir is written, so
the corrected command is not refused as "another config's workdir", and a problem in the val
data does not wait for the end of training to show.
"""

import json
import os
import shutil

import pytest

from data_pipeline.bad_input import BadInputError
from famipose_jax.config import schema as config_schema
from famipose_jax.train import loop as trainer
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import workdir_binding
from tests.train_support import smoke_config


def test_batch_size_larger_than_the_dataset_writes_nothing(tmp_path, tiny_dataset):
  workdir = str(tmp_path / 'run')
  with pytest.raises(config_schema.ConfigError, match=r'config\.batch_size=1000 is more than'):
    trainer.train(smoke_config(tiny_dataset, batch_size=1000), workdir)
  assert not os.path.exists(workdir)   # as it was: the lock's folder is removed again
  # The corrected config is not refused as another config's workdir.
  workdir_binding.bind_workdir(workdir, smoke_config(tiny_dataset), write=False)


def _copy_dataset(root: str, tmp_path) -> str:
  copy = str(tmp_path / 'data')
  shutil.copytree(root, copy)
  return copy


def _remove_a_val_frame(root: str):
  folder = os.path.join(root, 'images', 'val')
  video = sorted(os.listdir(folder))[0]
  os.remove(os.path.join(folder, video, sorted(os.listdir(os.path.join(folder, video)))[0]))


def _break_the_val_boxes(root: str):
  with open(os.path.join(root, 'json', 'val_boxes.json'), 'w', encoding='utf-8') as f:
    f.write('{"boxes": ')


def _empty_the_ground_truth(root: str):
  folder = os.path.join(root, 'annotations', 'val')
  for name in os.listdir(folder):
    path = os.path.join(folder, name)
    with open(path, encoding='utf-8') as f:
      video = json.load(f)
    video['annotations'] = []
    with open(path, 'w', encoding='utf-8') as f:
      json.dump(video, f)


@pytest.mark.parametrize('damage, message', [
    (_remove_a_val_frame, r'missing'),
    (_break_the_val_boxes, r'val_boxes\.json'),
    (_empty_the_ground_truth, r'not one annotated person'),
])
def test_bad_val_data_stops_the_run_before_training(tmp_path, tiny_dataset, damage, message):
  root = _copy_dataset(tiny_dataset, tmp_path)
  damage(root)
  workdir = str(tmp_path / 'run')
  with pytest.raises(BadInputError, match=message):
    trainer.train_and_evaluate(smoke_config(root), workdir)
  assert not os.path.exists(os.path.join(workdir, 'checkpoints'))
  assert not os.path.exists(os.path.join(workdir, workdir_binding.CONFIG_FILE))


def test_fewer_epochs_than_the_workdir_holds_is_said(tmp_path, compile_cache, tiny_dataset,
                                                     capsys):
  workdir = str(tmp_path / 'run')
  done = trainer.train(smoke_config(tiny_dataset, num_epochs=2), workdir).step
  capsys.readouterr()
  again = trainer.train(smoke_config(tiny_dataset, num_epochs=1), workdir)
  assert again.step == done and again.total_steps == done // 2
  assert f'is at step {done}, past num_epochs=1 ({done // 2} steps)' in capsys.readouterr().out


def test_an_init_from_that_cannot_be_read_leaves_no_trace(tmp_path, tiny_dataset):
  workdir = str(tmp_path / 'run')
  config = smoke_config(tiny_dataset, init_from=str(tmp_path / 'missing'))
  with pytest.raises(checkpointer.CheckpointError, match='neither a converted checkpoint'):
    trainer.train(config, workdir)
  assert not os.path.exists(workdir)
