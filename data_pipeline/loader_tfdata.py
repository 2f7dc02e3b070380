"""The tf.data route: the same per-sample function and batch plan, run by tf.data.

TensorFlow is imported only here (and only when this loader is asked for). The element order
comes from `BatchPlan` (its seeded per-epoch shuffle, per-process slice, drop-remainder for
training, padding for evaluation), `map` runs `ClipDataset.load` on `num_parallel_calls`
threads in deterministic order, then `batch(drop_remainder=True)` and `prefetch`. Because the
plan and the per-sample function are shared with the numpy loader, both produce bit-identical
batches for the same seed.
"""

from __future__ import annotations

import atexit
import weakref

import numpy as np

from data_pipeline.batch_plan import PADDING, BatchPlan
from data_pipeline.dataset import ClipDataset, SampleError


def build_tf_dataset(dataset: ClipDataset, plan: BatchPlan, *, start_step: int = 0,
                     num_parallel_calls: int = 2, prefetch: int = 2):
  """A `tf.data.Dataset` of batches (dicts of tensors with a leading batch axis)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  spec = dataset.element_spec()
  names = list(spec)
  dtypes = [tf.as_dtype(dtype) for _, dtype in spec.values()]

  def element_plan():
    for step in plan.steps(start_step):
      for index, epoch in plan.batch(step):
        yield index, epoch

  def load(index, epoch):
    index, epoch = int(index), int(epoch)
    if index == PADDING:
      element = dataset.empty_element()
      element['sample_index'][...] = PADDING
    else:
      element = dataset.load(index, train=plan.train, seed=plan.seed, epoch=epoch)
    return [element[name] for name in names]

  def load_tf(index, epoch):
    arrays = tf.numpy_function(load, [index, epoch], dtypes, stateful=False)
    return {name: tf.ensure_shape(array, spec[name][0]) for name, array in zip(names, arrays)}

  elements = tf.data.Dataset.from_generator(
      element_plan, output_signature=(tf.TensorSpec((), tf.int64), tf.TensorSpec((), tf.int64)))
  batches = elements.map(load_tf, num_parallel_calls=num_parallel_calls, deterministic=True)
  batches = batches.batch(plan.batch_size, drop_remainder=True)
  batches = batches.prefetch(prefetch)
  options = tf.data.Options()
  options.deterministic = True
  options.threading.private_threadpool_size = max(num_parallel_calls, 1)
  return batches.with_options(options)


# Iterators still open at interpreter exit are dropped first: finalising a generator-backed
# tf.data iterator after Python has begun shutting down can hang.
_OPEN_LOADERS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_loaders():
  for loader in list(_OPEN_LOADERS):
    loader.close()


class TfDataLoader:
  """Iterator of numpy batches from `build_tf_dataset` (the same interface as NumpyLoader)."""

  def __init__(self, dataset: ClipDataset, plan: BatchPlan, *, start_step: int = 0,
               num_parallel_calls: int = 2, prefetch: int = 2):
    self.dataset = dataset
    self.plan = plan
    self.steps_per_epoch = plan.steps_per_epoch
    self.tf_dataset = build_tf_dataset(dataset, plan, start_step=start_step,
                                       num_parallel_calls=num_parallel_calls, prefetch=prefetch)
    self._iterator = iter(self.tf_dataset.as_numpy_iterator())
    _OPEN_LOADERS.add(self)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      return next(self._iterator)
    except tf.errors.OpError as e:
      # numpy_function wraps the SampleError raised in `load`; surface it under its own name.
      raise SampleError(f'tf.data loader: {e.message}') from None

  def close(self):
    self._iterator = iter(())
    _OPEN_LOADERS.discard(self)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
