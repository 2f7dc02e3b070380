"""The tf.data route: the same batch plan and per-sample function, run by tf.data.

TensorFlow is imported only here (and only when this loader is asked for). The order comes
from `BatchPlan` (its seeded per-epoch shuffle, per-process slice, drop-remainder for
training, padding for evaluation); a deterministic parallel `map` builds batches on
`num_parallel_calls` threads, then `prefetch`. Because the plan and the per-sample function are
shared with the numpy loader, both produce bit-identical batches for the same seed.
"""

from __future__ import annotations

import atexit
import weakref

import numpy as np

from data_pipeline.batch_plan import BatchPlan
from data_pipeline.dataset import ClipDataset, SampleError
from data_pipeline.bad_input import BadInputPolicy
from data_pipeline.loader_numpy import fill_batch, report_skipped


def build_tf_dataset(dataset: ClipDataset, plan: BatchPlan, *, start_step: int = 0,
                     num_parallel_calls: int = 2, prefetch: int = 2,
                     bad_input: BadInputPolicy | None = None):
  """A `tf.data.Dataset` of batches (dicts of tensors with a leading batch axis).

  The map works on whole batches: each call fills one batch with the numpy loader's
  `fill_batch`, so a clip is copied once (into its batch) instead of once per tensor hop,
  and per-element tf.data overhead disappears; calls for different batches run in parallel
  (OpenCV releases the GIL while decoding and warping). Samples skipped as bad input are
  counted in `bad_input`.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  spec = dataset.element_spec()
  names = list(spec)
  dtypes = [tf.as_dtype(dtype) for _, dtype in spec.values()]
  shapes = {name: (plan.batch_size,) + tuple(shape) for name, (shape, _) in spec.items()}

  def load_batch(step):
    batch = {name: np.empty(shapes[name], spec[name][1]) for name in names}
    skipped = fill_batch(dataset, batch, plan.batch(int(step)), train=plan.train,
                         seed=plan.seed)
    if bad_input is not None:
      report_skipped(bad_input, skipped)
    return [batch[name] for name in names]

  def load_batch_tf(step):
    arrays = tf.numpy_function(load_batch, [step], dtypes, stateful=False)
    return {name: tf.ensure_shape(array, shapes[name]) for name, array in zip(names, arrays)}

  steps = tf.data.Dataset.from_generator(lambda: plan.steps(start_step),
                                         output_signature=tf.TensorSpec((), tf.int64))
  batches = steps.map(load_batch_tf, num_parallel_calls=num_parallel_calls, deterministic=True)
  batches = batches.prefetch(prefetch)
  options = tf.data.Options()
  options.deterministic = True
  options.threading.private_threadpool_size = max(num_parallel_calls, 1)
  options.threading.max_intra_op_parallelism = 1
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
    self.bad_input = BadInputPolicy('skip')   # samples skipped while loading (load_or_skip)
    self.tf_dataset = build_tf_dataset(dataset, plan, start_step=start_step,
                                       num_parallel_calls=num_parallel_calls, prefetch=prefetch,
                                       bad_input=self.bad_input)
    self._iterator = iter(self.tf_dataset.as_numpy_iterator())
    _OPEN_LOADERS.add(self)

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._iterator is None:
      raise StopIteration
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    try:
      return next(self._iterator)
    except tf.errors.OpError as e:
      # numpy_function wraps the SampleError raised in `load`; surface it under its own name.
      raise SampleError(f'tf.data loader: {e.message}') from None

  def close(self):
    if self._iterator is not None:
      self.bad_input.log_summary(f'{self.dataset.split} loader')
    self._iterator = None
    _OPEN_LOADERS.discard(self)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
