"""Batch plans and both loaders: order, sharding, resumption, bitwise agreement, failures."""

import dataclasses
import os

import numpy as np
import pytest

import data_pipeline
from data_pipeline.batch_plan import PADDING, BatchPlan
from data_pipeline.dataset import SampleError
from famipose_jax.heads import HeatmapCodec, SimCCCodec
from tests.tiny_posetrack import tiny_config, write_tiny_posetrack


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory):
  root = tmp_path_factory.mktemp('posetrack')
  write_tiny_posetrack(root, videos=2, frames=5, layout='pt18')
  return root


def _both_heads_codecs(config):
  """Heatmap and SimCC targets in every element (the largest elements a config gives)."""
  return (HeatmapCodec(tuple(config.image_size), tuple(config.heatmap_size), config.sigma),
          SimCCCodec(tuple(config.image_size), config.simcc_split_ratio, config.simcc_sigma))


def _assert_batches_equal(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert sorted(x) == sorted(y)
    for name in x:
      assert x[name].dtype == y[name].dtype, name
      np.testing.assert_array_equal(x[name], y[name], err_msg=name)


def test_train_plan_epochs_resume_and_shards():
  plan = BatchPlan(num_samples=10, batch_size=3, train=True, seed=5)
  assert plan.steps_per_epoch == 3                         # 10 // 3, remainder dropped
  epoch0 = [i for step in range(3) for i, _ in plan.batch(step)]
  epoch1 = [i for step in range(3, 6) for i, _ in plan.batch(step)]
  assert len(set(epoch0)) == 9 and len(set(epoch1)) == 9 and epoch0 != epoch1
  assert {e for step in range(3, 6) for _, e in plan.batch(step)} == {1}
  again = BatchPlan(num_samples=10, batch_size=3, train=True, seed=5)
  assert [again.batch(s) for s in range(4, 8)] == [plan.batch(s) for s in range(4, 8)]
  # Two processes with batch 3 each split the global batch of 6 of one process.
  whole = BatchPlan(num_samples=20, batch_size=6, train=True, seed=2)
  parts = [BatchPlan(num_samples=20, batch_size=3, train=True, seed=2, process_index=p,
                     process_count=2) for p in range(2)]
  for step in range(7):
    assert parts[0].batch(step) + parts[1].batch(step) == whole.batch(step)


def test_eval_plan_pads_the_last_batch():
  plans = [BatchPlan(num_samples=7, batch_size=2, train=False, process_index=p, process_count=2)
           for p in range(2)]
  assert plans[0].steps_per_epoch == 2
  seen = [i for step in range(2) for plan in plans for i, _ in plan.batch(step)]
  assert seen == [0, 1, 2, 3, 4, 5, 6, PADDING]
  with pytest.raises(IndexError):
    plans[0].batch(2)
  with pytest.raises(ValueError, match='cannot fill one global batch'):
    BatchPlan(num_samples=3, batch_size=4, train=True)


def test_numpy_workers_and_tfdata_give_identical_batches(tiny_root):
  config = tiny_config(tiny_root)
  dataset = data_pipeline.build_dataset(config, 'train', codecs=_both_heads_codecs(config))
  kwargs = dict(batch_size=4, train=True, seed=11)
  with data_pipeline.make_loader(config, dataset, num_workers=0, **kwargs) as loader:
    reference = [next(loader) for _ in range(6)]        # crosses into epoch 1 (5 steps/epoch)
  assert loader.steps_per_epoch == 5
  with data_pipeline.make_loader(config, dataset, num_workers=2, **kwargs) as loader:
    workers = [next(loader) for _ in range(6)]
  _assert_batches_equal(reference, workers)
  with data_pipeline.make_loader(config, dataset, loader='tfdata', num_workers=2,
                                 **kwargs) as loader:
    tfdata = [next(loader) for _ in range(6)]
  _assert_batches_equal(reference, tfdata)
  batch = reference[0]
  assert batch['key_image'].shape == (4, 40, 32, 3)
  assert batch['supporting_images'].shape == (4, 4, 40, 32, 3)
  assert batch['heatmap'].shape == (4, 10, 8, 17) and batch['simcc_x'].shape == (4, 17, 64)
  assert batch['sample_index'].dtype == np.int64 and batch['valid'].all()
  # Resuming at step 3 continues the same order.
  with data_pipeline.make_loader(config, dataset, num_workers=0, start_step=3,
                                 **kwargs) as loader:
    _assert_batches_equal(reference[3:], [next(loader) for _ in range(3)])


def test_eval_loaders_pad_and_agree(tiny_root):
  config = tiny_config(tiny_root)
  dataset = data_pipeline.build_dataset(config, 'val')
  assert len(dataset) == 20
  with data_pipeline.make_loader(config, dataset, batch_size=6, train=False, seed=0,
                                 num_workers=0) as loader:
    numpy_batches = list(loader)
  with data_pipeline.make_loader(config, dataset, batch_size=6, train=False, seed=0,
                                 loader='tfdata', num_workers=1) as loader:
    tf_batches = list(loader)
  _assert_batches_equal(numpy_batches, tf_batches)
  indices = np.concatenate([b['sample_index'] for b in numpy_batches])
  np.testing.assert_array_equal(indices, list(range(20)) + [-1] * 4)
  last = numpy_batches[-1]
  np.testing.assert_array_equal(last['valid'], [True, True, False, False, False, False])
  assert not last['key_image'][2:].any()


def test_worker_exception_names_the_sample_and_stops_workers(tmp_path):
  write_tiny_posetrack(tmp_path, videos=1, frames=4, layout='pt18')
  config = tiny_config(tmp_path)
  dataset = data_pipeline.build_dataset(config, 'val')
  os.remove(tmp_path / 'images' / 'val' / '000001_mpii_val' / '000002.jpg')
  loader = data_pipeline.make_loader(config, dataset, batch_size=2, train=False, seed=0,
                                     num_workers=2)
  workers = loader.workers
  slot_names = [slot.name for slot in loader._slots]
  with pytest.raises(SampleError) as error:
    list(loader)
  message = str(error.value)
  assert 'sample 0 (images/val/000001_mpii_val/000000.jpg' in message
  assert '000002.jpg: frame file not found' in message
  assert all(not w.is_alive() for w in workers)
  assert not any(os.path.exists('/dev/shm/' + name) for name in slot_names)


def test_keyboard_interrupt_shuts_the_workers_down(tiny_root):
  config = tiny_config(tiny_root)
  dataset = data_pipeline.build_dataset(config, 'train')
  with pytest.raises(KeyboardInterrupt):
    with data_pipeline.make_loader(config, dataset, batch_size=2, train=True, seed=0,
                                   num_workers=2) as loader:
      workers = loader.workers
      next(loader)
      raise KeyboardInterrupt
  assert workers and all(not w.is_alive() for w in workers)
  with pytest.raises(StopIteration):
    next(loader)


def test_fork_is_refused(tiny_root):
  config = tiny_config(tiny_root, worker_start_method='fork')
  dataset = data_pipeline.build_dataset(config, 'train')
  with pytest.raises(ValueError, match='fork is unsafe'):
    data_pipeline.make_loader(config, dataset, batch_size=2, train=True, seed=0)


def test_too_little_shared_memory_is_a_clear_error(tiny_root, monkeypatch):
  import collections  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  usage = collections.namedtuple('usage', 'total used free')
  monkeypatch.setattr(shutil, 'disk_usage', lambda path: usage(2**26, 2**26 - 2**20, 2**20))
  config = tiny_config(tiny_root)
  dataset = data_pipeline.build_dataset(config, 'train', codecs=_both_heads_codecs(config))
  with pytest.raises(MemoryError, match=r'needs \d+ MiB of shared memory .* /dev/shm has 1 MiB'):
    data_pipeline.make_loader(config, dataset, batch_size=8, train=True, seed=0, num_workers=2)


@pytest.mark.parametrize('loader_kind,num_workers', [('numpy', 0), ('numpy', 1), ('tfdata', 1)])
def test_a_frame_that_goes_bad_after_the_build_is_skipped_and_counted(tmp_path, caplog,
                                                                       loader_kind, num_workers):
  # data.on_bad_input='skip' drops samples whose frames are found bad when the dataset is
  # built; a frame deleted later is skipped the same way by the loader, counted and logged.
  write_tiny_posetrack(tmp_path, videos=2, frames=5, layout='pt18')
  config = tiny_config(tmp_path, on_bad_input='skip')
  gone = 'images/val/000001_mpii_val/000004.jpg'
  datasets = {split: data_pipeline.build_dataset(config, split) for split in ('train', 'val')}
  datasets['train'].samples = datasets['val'].samples     # train on the same 20 samples
  bad = [i for i in range(20) if gone in datasets['val'].clip_files(i)]
  assert bad == [4, 5, 6, 7, 8, 9]          # frames 2, 3, 4 of the video, 2 persons each
  os.remove(tmp_path / gone)
  with caplog.at_level('WARNING'):
    with data_pipeline.make_loader(config, datasets['val'], batch_size=10, train=False,
                                   seed=0, num_workers=num_workers, loader=loader_kind) as loader:
      batches = list(loader)
      assert loader.bad_input.num_skipped == 6
  valid = np.concatenate([b['valid'] for b in batches])
  np.testing.assert_array_equal(np.flatnonzero(~valid), bad)
  assert not np.concatenate([b['key_image'] for b in batches])[bad].any()
  assert caplog.records[0].getMessage() == (
      'skipping bad input: sample 4 (images/val/000001_mpii_val/000002.jpg, box '
      f'{datasets["val"].samples[4].box}): BadInputError: {tmp_path / gone}: frame file not '
      'found')
  assert caplog.records[-1].getMessage().startswith(
      'val loader: skipped 6 record(s): unusable at load time: frame file not found')
  # Training replaces a skipped sample by the next one that loads: batches stay full.
  with data_pipeline.make_loader(config, datasets['train'], batch_size=20, train=True, seed=0,
                                 num_workers=num_workers, loader=loader_kind) as loader:
    batch = next(loader)
    # Sample 4 tries 4, 5, ..., 9 before 10 loads (6 skips), sample 5 tries 5..9 (5), ...
    # (tf.data counts the batches it prefetched too).
    assert (loader.bad_input.num_skipped == 21 if loader_kind == 'numpy'
            else loader.bad_input.num_skipped % 21 == 0)
  order = BatchPlan(20, 20, train=True, seed=0).batch(0)
  expected = [10 if index in bad else index for index, _ in order]
  np.testing.assert_array_equal(batch['sample_index'], expected)
  assert batch['valid'].all()
  # With 'error' (the default) the same frame stops the loader, naming the sample.
  datasets['val'].settings = dataclasses.replace(datasets['val'].settings, on_bad_input='error')
  with pytest.raises(SampleError, match='sample 4 .*frame file not found'):
    with data_pipeline.make_loader(config, datasets['val'], batch_size=10, train=False, seed=0,
                                   num_workers=num_workers, loader=loader_kind) as loader:
      list(loader)
