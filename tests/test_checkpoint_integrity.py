"""Checkpoint integrity: checksums verified on restore, falling back, retention, full disks."""

import errno
import json
import logging
import os
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from orbax.checkpoint._src.handlers import json_checkpoint_handler

from configs import posetrack17
from famipose_jax.runtime import sharding
from famipose_jax.checkpoints import checkpointer
from famipose_jax.checkpoints import checksums
from famipose_jax.checkpoints import packed_state
from famipose_jax.checkpoints import verified_read
from tests.train_support import flip_array_bytes, snapshot_files

# Large enough that its (incompressible) bytes fill the biggest data file of a checkpoint.
_NOISE = np.random.default_rng(0).standard_normal(4096).astype(np.float32)


def _state(value: float):
  return {'w': jnp.asarray(_NOISE * value), 'step': jnp.asarray(int(value), jnp.int32),
          'nested': {'b': jnp.arange(4, dtype=jnp.float32) * value}}


def _abstract():
  replicated = sharding.replicated(sharding.make_mesh(jax.devices()[:1]))
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated), _state(0.0))


def _checkpointer(workdir, keep=3, use_async=True, background=True, packed=True):
  return checkpointer.Checkpointer(str(workdir), posetrack17.get_config(), save_every_steps=1,
                                   keep=keep, use_async=use_async, background=background,
                                   packed=packed)


def _saved(workdir, steps, keep=3, packed=True):
  ckpt = _checkpointer(workdir, keep=keep, packed=packed)
  for step in steps:
    ckpt.save(step, _state(float(step)), {})
  ckpt.close()
  return _checkpointer(workdir, keep=keep)


def test_bit_flipped_checkpoint_is_refused_naming_the_folder_and_the_leaf(tmp_path):
  ckpt = _saved(tmp_path, [1, 2])
  step_dir = ckpt.step_dir(2)
  flip_array_bytes(step_dir)
  before = snapshot_files(str(tmp_path))
  with pytest.raises(checkpointer.CorruptCheckpointError) as error:
    ckpt.restore(2, _abstract())
  message = str(error.value)
  assert message.startswith(f'checkpoint {step_dir} is corrupt: w does not match')
  assert '--config.train.on_corrupt_checkpoint=fall_back' in message and '\n' not in message
  assert snapshot_files(str(tmp_path)) == before           # nothing moved or deleted
  state, meta = ckpt.restore(1, _abstract())                # the older one is intact
  np.testing.assert_array_equal(state['w'], _NOISE)
  assert meta['step'] == 1
  ckpt.close()


def _change_meta_step(step_dir: str, old: int, new: int) -> None:
  """One byte of the meta record changed so that it still reads as JSON: another step."""
  path = os.path.join(step_dir, 'meta', 'metadata')
  with open(path, encoding='utf-8') as f:
    text = f.read()
  assert text.count(f'"step": {old}') == 1
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text.replace(f'"step": {old}', f'"step": {new}'))


def test_a_changed_byte_in_meta_is_detected_on_restore(tmp_path):
  ckpt = _saved(tmp_path, [1, 2])
  _change_meta_step(ckpt.step_dir(2), 2, 3)
  with pytest.raises(checkpointer.CorruptCheckpointError,
                     match=f'checkpoint {ckpt.step_dir(2)} is corrupt: its meta record'):
    ckpt.restore(2, _abstract())
  state, meta = ckpt.restore(1, _abstract())
  assert meta['step'] == 1 and state['step'] == 1
  with pytest.raises(checkpointer.CorruptCheckpointError, match='its meta record'):
    verified_read.read_step_dir(ckpt.step_dir(2))   # prediction and init_from read it so
  ckpt.close()


def test_restore_latest_intact_skips_corrupt_checkpoints_and_sets_them_aside(tmp_path, caplog):
  ckpt = _saved(tmp_path, [1, 2, 3])
  flip_array_bytes(ckpt.step_dir(3))
  flip_array_bytes(ckpt.step_dir(2))
  with caplog.at_level(logging.WARNING):
    state, meta = ckpt.restore_latest_intact(_abstract())
  assert meta['step'] == 1
  np.testing.assert_array_equal(state['w'], _NOISE)
  skipped = [r.getMessage() for r in caplog.records if 'skipped' in r.getMessage()]
  assert len(skipped) == 2 and f'{ckpt.step_dir(3)} is corrupt: w' in skipped[0]
  aside = os.path.join(str(tmp_path), checkpointer.CORRUPT_DIR)
  assert sorted(os.listdir(aside)) == ['2', '3']
  assert ckpt.all_steps() == [1] and ckpt.latest_step() == 1
  # Training goes on from step 1 and saves steps 2 and 3 again.
  assert ckpt.save(2, _state(20.0), {}) and ckpt.save(3, _state(30.0), {})
  ckpt.wait()
  assert ckpt.all_steps() == [1, 2, 3]
  np.testing.assert_array_equal(ckpt.restore(3, _abstract())[0]['w'], _NOISE * 30.0)
  ckpt.close()


def test_no_intact_checkpoint_to_fall_back_to_is_an_error(tmp_path):
  ckpt = _saved(tmp_path, [1])
  flip_array_bytes(ckpt.step_dir(1))
  with pytest.raises(checkpointer.CorruptCheckpointError,
                     match=f'no intact checkpoint in {ckpt.directory}'):
    ckpt.restore_latest_intact(_abstract())
  assert ckpt.all_steps() == [1]                           # nothing was moved
  ckpt.close()


def test_checkpoint_without_checksums_is_unverified_not_corrupt(tmp_path, caplog):
  # What a checkpoint written before checksums existed looks like (they were not packed).
  ckpt = _saved(tmp_path, [1], packed=False)
  shutil.rmtree(os.path.join(ckpt.step_dir(1), checkpointer.CHECKSUMS_ITEM))
  with caplog.at_level(logging.WARNING):
    state, meta = ckpt.restore_latest_intact(_abstract())
  assert meta['step'] == 1 and meta['verified'] is False
  np.testing.assert_array_equal(state['w'], _NOISE)
  assert any('has no checksums' in r.getMessage() for r in caplog.records)
  ckpt.close()


def test_old_checkpoints_are_deleted_only_after_the_newest_reads_back_intact(tmp_path):
  ckpt = _checkpointer(tmp_path, keep=1, use_async=False)
  ckpt.save(1, _state(1.0), {})
  ckpt.save(2, _state(2.0), {})
  assert ckpt.all_steps() == [1, 2]                        # 2 is not verified yet
  flip_array_bytes(ckpt.step_dir(2))                       # damaged before it is read back
  with pytest.raises(checkpointer.CheckpointError,
                     match=f'checkpoint {ckpt.step_dir(2)} is corrupt: w does not match'):
    ckpt.wait()
  assert ckpt.all_steps() == [1, 2]
  np.testing.assert_array_equal(ckpt.restore(1, _abstract())[0]['w'], _NOISE)
  ckpt.save(3, _state(3.0), {})
  ckpt.wait()                                              # 3 reads back intact: rotate
  assert ckpt.all_steps() == [3]
  ckpt.close()


@pytest.mark.parametrize('use_async, background', [(True, True), (False, True), (True, False),
                                                   (False, False)])
def test_full_disk_names_the_path_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch,
                                                                      use_async, background):
  ckpt = _checkpointer(tmp_path, keep=1, use_async=use_async, background=background)
  ckpt.save(1, _state(1.0), {})
  ckpt.wait()

  async def disk_full(self, x, directory):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(directory))

  monkeypatch.setattr(json_checkpoint_handler.JsonCheckpointHandler, '_save_fn', disk_full)
  with pytest.raises(checkpointer.CheckpointError) as error:
    ckpt.save(2, _state(2.0), {})
    ckpt.wait()
  assert str(error.value) == (
      f'cannot write checkpoint 2 to {ckpt.directory}: No space left on device; the last good '
      f'checkpoint, {ckpt.step_dir(1)}, is kept.')
  ckpt.close()                                             # no second report
  monkeypatch.undo()
  again = _checkpointer(tmp_path, keep=1)
  assert again.all_steps() == [1]
  np.testing.assert_array_equal(again.restore(1, _abstract())[0]['w'], _NOISE)
  again.close()


def test_a_save_cut_short_is_ignored_and_saved_again(tmp_path):
  # kill -9 during a save leaves Orbax's temporary folder: arrays, perhaps no checksums yet.
  ckpt = _saved(tmp_path, [1, 2])
  ckpt.close()
  cut_short = ckpt.step_dir(2) + '.orbax-checkpoint-tmp'
  os.rename(ckpt.step_dir(2), cut_short)
  shutil.rmtree(os.path.join(cut_short, checkpointer.CHECKSUMS_ITEM))
  ckpt = _checkpointer(tmp_path)
  assert ckpt.all_steps() == [1]
  state, meta = ckpt.restore_latest_intact(_abstract())
  assert meta['step'] == 1 and meta['verified'] is True
  assert ckpt.save(2, _state(2.0), {})
  ckpt.close()
  assert sorted(os.listdir(ckpt.directory)) == ['1', '2']


def test_a_background_save_keeps_its_own_copy_of_the_state(tmp_path):
  """The train step after a save may donate the state: the save must not read those buffers."""
  ckpt = _checkpointer(tmp_path, keep=2)
  state = _state(5.0)
  assert ckpt.save(5, state, {})
  for leaf in jax.tree_util.tree_leaves(state):
    leaf.delete()                                          # what donation does to them
  ckpt.wait()
  restored, meta = ckpt.restore(5, _abstract())
  assert meta['verified'] is True
  np.testing.assert_array_equal(restored['w'], _NOISE * 5.0)
  ckpt.close()


def test_background_and_foreground_saves_keep_the_same_checkpoints(tmp_path):
  kept = []
  for background in (True, False):
    ckpt = _checkpointer(tmp_path / str(background), keep=2, background=background)
    for step in (1, 2, 3):
      ckpt.save(step, _state(float(step)), {'epoch': step})
    ckpt.close()
    again = _checkpointer(tmp_path / str(background), keep=2)
    kept.append([(step, again.restore(step, _abstract())) for step in again.all_steps()])
    again.close()
  assert [step for step, _ in kept[0]] == [step for step, _ in kept[1]] == [2, 3]
  for (_, (state_a, meta_a)), (_, (state_b, meta_b)) in zip(*kept):
    assert meta_a == meta_b and meta_a['verified'] is True
    jax.tree_util.tree_map(np.testing.assert_array_equal, state_a, state_b)


def test_a_background_save_finishes_while_its_caller_is_busy(tmp_path):
  """The worker settles the previous save without waiting on itself (it once did, whenever the
  caller did not touch the checkpointer until the job ended: a deadlock)."""
  ckpt = _checkpointer(tmp_path, keep=1)
  ckpt.save(1, _state(1.0), {})
  ckpt.save(2, _state(2.0), {})        # its job reads 1 back, rotates, then writes 2
  job = ckpt._job                      # pylint: disable=protected-access
  deadline = time.monotonic() + 60
  while not job.done() and time.monotonic() < deadline:
    time.sleep(0.05)
  assert job.done() and job.exception() is None
  ckpt.close()
  assert _checkpointer(tmp_path, keep=1).all_steps() == [2]


def test_pack_and_unpack_keep_every_leaf_by_name_dtype_and_offset():
  leaves = {'a/kernel': np.arange(6, dtype=np.float32).reshape(2, 3),
            'a/bias': np.ones(2, np.float32), 'step': np.asarray(7, np.int32),
            'b/0/mu': np.full((1, 2), 3.0, np.float32)}
  packed, layout = packed_state.pack(leaves)
  assert {dtype: array.shape for dtype, array in packed.items()} == {'float32': (10,),
                                                                      'int32': (1,)}
  assert layout == {'format': 1, 'sizes': {'float32': 10, 'int32': 1},
                    'leaves': [['a/kernel', 'float32', [2, 3], 0], ['a/bias', 'float32', [2], 6],
                               ['step', 'int32', [], 0], ['b/0/mu', 'float32', [1, 2], 8]]}
  back = packed_state.unpack(packed, json.loads(json.dumps(layout)))   # as it reads back
  assert list(back) == list(leaves)
  for name, value in leaves.items():
    assert back[name].dtype == value.dtype and back[name].shape == value.shape
    np.testing.assert_array_equal(back[name], value)
  tree = packed_state.nested(back)
  assert sorted(tree) == ['a', 'b', 'step'] and tree['b']['0']['mu'].shape == (1, 2)


def test_unpack_refuses_a_layout_that_does_not_fit_the_arrays():
  packed, layout = packed_state.pack({'w': np.zeros(4, np.float32), 'b': np.zeros(2, np.float32)})
  layout['leaves'][1][3] = 5                      # b would read past the end (6 floats)
  with pytest.raises(ValueError, match=r'places b \(float32, shape \(2,\)\) at offset 5'):
    packed_state.unpack(packed, layout)
  with pytest.raises(ValueError, match='format 2'):
    packed_state.unpack(packed, dict(layout, format=2))


def test_a_checkpoint_holds_its_state_packed_one_array_per_dtype(tmp_path):
  ckpt = _saved(tmp_path, [1])
  step_dir = ckpt.step_dir(1)
  assert {'state', 'layout', 'meta', 'checksums'} <= set(os.listdir(step_dir))
  stored = verified_read.restore(os.path.join(step_dir, 'state'))
  assert {dtype: array.shape for dtype, array in stored.items()} == {'float32': (4100,),
                                                                      'int32': (1,)}
  state, meta = ckpt.restore(1, _abstract())
  assert meta['verified'] is True
  jax.tree_util.tree_map(np.testing.assert_array_equal, state, _state(1.0))
  assert state['step'].dtype == jnp.int32
  assert state['w'].sharding == _abstract()['w'].sharding
  _, read = verified_read.read_step_dir(step_dir)
  np.testing.assert_array_equal(read['nested']['b'], np.arange(4, dtype=np.float32))
  ckpt.close()


def test_a_changed_layout_is_detected_on_restore(tmp_path):
  ckpt = _saved(tmp_path, [1])
  path = os.path.join(ckpt.step_dir(1), 'layout', 'metadata')
  with open(path, encoding='utf-8') as f:
    layout = json.load(f)
  assert layout['leaves'][0][:2] == ['nested/b', 'float32'] and layout['leaves'][0][3] == 0
  layout['leaves'][0][3] = 8                      # still inside the arrays: other values
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(layout, f)
  message = f'checkpoint {ckpt.step_dir(1)} is corrupt: the layout of its packed state'
  with pytest.raises(checkpointer.CorruptCheckpointError, match=message):
    ckpt.restore(1, _abstract())
  with pytest.raises(checkpointer.CorruptCheckpointError, match=message):
    verified_read.read_step_dir(ckpt.step_dir(1))
  ckpt.close()


def test_checkpoints_of_the_earlier_unpacked_layout_still_restore_and_rotate(tmp_path):
  ckpt = _saved(tmp_path, [1, 2], keep=2, packed=False)
  assert 'layout' not in os.listdir(ckpt.step_dir(2))
  state, meta = ckpt.restore(2, _abstract())
  assert meta['verified'] is True
  jax.tree_util.tree_map(np.testing.assert_array_equal, state, _state(2.0))
  _, read = verified_read.read_step_dir(ckpt.step_dir(2))
  np.testing.assert_array_equal(read['w'], _NOISE * 2.0)
  assert ckpt.save(3, _state(3.0), {})           # packed, beside the unpacked ones
  ckpt.close()
  again = _checkpointer(tmp_path, keep=2)
  assert again.all_steps() == [2, 3]
  assert 'layout' in os.listdir(again.step_dir(3))
  flip_array_bytes(again.step_dir(2))
  with pytest.raises(checkpointer.CorruptCheckpointError, match='w does not match'):
    again.restore(2, _abstract())
  again.close()


def test_a_packed_checkpoint_refuses_a_model_of_other_shapes(tmp_path):
  ckpt = _saved(tmp_path, [1])
  other = dict(_abstract(), w=jax.ShapeDtypeStruct((10,), jnp.float32,
                                                   sharding=_abstract()['w'].sharding))
  with pytest.raises(checkpointer.CheckpointError,
                     match=r'holds float32\[4096\] for w, which this run has as float32\[10\]'
                     ) as error:
    ckpt.restore(1, other)
  assert not isinstance(error.value, checkpointer.CorruptCheckpointError)
  ckpt.close()


def _rewrite_json(path: str, edit) -> None:
  with open(path, encoding='utf-8') as f:
    record = json.load(f)
  edit(record)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(record, f)


def test_a_packed_checkpoint_missing_its_layout_or_checksums_is_corrupt(tmp_path):
  ckpt = _saved(tmp_path, [1, 2])
  shutil.rmtree(os.path.join(ckpt.step_dir(2), 'layout'))
  shutil.rmtree(os.path.join(ckpt.step_dir(1), checkpointer.CHECKSUMS_ITEM))
  for step, message in ((2, 'is corrupt: the layout of its packed state is missing'),
                        (1, 'is incomplete: its state is packed but the checksums saved with it '
                            'are missing')):
    expected = f'checkpoint {ckpt.step_dir(step)} {message}'
    with pytest.raises(checkpointer.CorruptCheckpointError, match=expected):
      ckpt.restore(step, _abstract())
    with pytest.raises(checkpointer.CorruptCheckpointError, match=expected):
      verified_read.read_step_dir(ckpt.step_dir(step))
  ckpt.close()


def test_a_layout_of_a_newer_format_is_not_taken_for_damage(tmp_path):
  ckpt = _saved(tmp_path, [1])
  step_dir = ckpt.step_dir(1)
  layout_path = os.path.join(step_dir, 'layout', 'metadata')
  _rewrite_json(layout_path, lambda layout: layout.update(format=2))
  with open(layout_path, encoding='utf-8') as f:
    digest = checksums.record_digest(json.load(f))
  _rewrite_json(os.path.join(step_dir, checkpointer.CHECKSUMS_ITEM, 'metadata'),
                lambda record: record.update(layout=digest))   # as a newer version saves it
  before = snapshot_files(str(tmp_path))
  for read in (lambda: ckpt.restore_latest_intact(_abstract()),
               lambda: verified_read.read_step_dir(step_dir)):
    with pytest.raises(checkpointer.CheckpointError, match='written by a newer version') as error:
      read()
    assert not isinstance(error.value, checkpointer.CorruptCheckpointError)
  assert snapshot_files(str(tmp_path)) == before           # not set aside as corrupt
  ckpt.close()
