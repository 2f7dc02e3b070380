"""A TensorFlow-free batch loader: worker processes writing batches into shared memory.

Workers are started with 'spawn' (or 'forkserver'), never 'fork': forking a process that has
initialised JAX (or any threaded runtime) can deadlock the child. Each worker builds whole
batches, following the `BatchPlan`, directly into one of `num_workers + prefetch` shared-memory
slots; the parent hands batches out in step order, copying each out of its slot so the caller
owns it. A worker's exception comes back to the parent and is re-raised there naming the
sample; a worker that dies is noticed; `close()` (also on KeyboardInterrupt, garbage
collection or interpreter exit) stops the workers and frees the shared memory.
With `num_workers = 0` batches are built in the calling process (debugging, tests).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import shutil
import signal
import traceback
import weakref
from multiprocessing import shared_memory

import numpy as np

from data_pipeline.bad_input import BadInputError, BadInputPolicy
from data_pipeline.batch_plan import PADDING, BatchPlan
from data_pipeline.dataset import ClipDataset, SampleError
from data_pipeline import config as data_schema

_log = logging.getLogger(__name__)

_POLL_SECONDS = 1.0


class WorkerError(RuntimeError):
  """A loader worker failed or died; the message says which sample or worker."""


def fill_batch(dataset: ClipDataset, batch: dict[str, np.ndarray], elements, *, train: bool,
               seed: int) -> list[tuple[str, str]]:
  """Writes the elements [(sample index or PADDING, epoch)] into the batch arrays [B, ...].

  Returns:
    (reason, message) of every sample skipped as bad input (`load_or_skip`).
  """
  names = list(batch)
  skipped = []
  for row, (index, epoch) in enumerate(elements):
    view = {name: batch[name][row, ...] for name in names}   # 0-d views for scalars
    if index == PADDING:
      for array in view.values():
        array[...] = 0
      view['sample_index'][...] = PADDING
      continue
    skipped += load_or_skip(dataset, index, view, train=train, seed=seed, epoch=epoch)
  return skipped


def _went_bad(error: SampleError) -> bool:
  """Whether a sample failed on its input (a frame gone or damaged since the dataset was
  built), not on a bug."""
  return isinstance(error.__cause__, (BadInputError, OSError))


def _reason(error: Exception) -> str:
  """What went wrong without the path, so that skips count per reason ('frame file not
  found')."""
  if isinstance(error, OSError):
    return error.strerror or type(error).__name__
  return getattr(error, 'reason', None) or str(error).rsplit(': ', 1)[-1]


def load_or_skip(dataset: ClipDataset, index: int, out: dict[str, np.ndarray], *, train: bool,
                 seed: int, epoch: int) -> list[tuple[str, str]]:
  """Loads sample `index` into `out`; under data.on_bad_input='skip' skips it if its input
  went bad after the dataset was built (build_dataset checked every frame then).

  A skipped training sample is replaced by the next sample that loads (index + 1, + 2, ...,
  wrapping), so every batch stays full and the same files give the same batches. A skipped
  evaluation sample becomes an element with valid = False: its box gets no prediction.

  Returns:
    (reason, message) of each sample skipped.

  Raises:
    SampleError: with 'error' (the default), or for a failure that is not bad input, or when
      no sample of the dataset loads.
  """
  skipped = []
  for attempt in range(len(dataset)):
    candidate = (index + attempt) % len(dataset)
    try:
      dataset.load(candidate, train=train, seed=seed, epoch=epoch, out=out)
      return skipped
    except SampleError as e:
      if dataset.settings.on_bad_input != 'skip' or not _went_bad(e):
        raise
      skipped.append((f'unusable at load time: {_reason(e.__cause__)}', str(e)))
    if not train:
      for array in out.values():
        array[...] = 0
      out['sample_index'][...] = index
      return skipped
  raise SampleError(f'no sample of the {dataset.split} set loads (the first skipped: '
                    f'{skipped[0][1]})')


def report_skipped(policy: BadInputPolicy, skipped: list[tuple[str, str]]):
  """Counts the skipped samples in `policy` (which logs the first of each reason)."""
  for reason, message in skipped:
    policy.skip(reason, message)


def _batch_layout(dataset: ClipDataset, batch_size: int):
  """[(name, shape, dtype, byte offset)] of one batch in a slot, and the slot's size."""
  layout, offset = [], 0
  for name, (shape, dtype) in dataset.element_spec().items():
    shape = (batch_size,) + tuple(shape)
    layout.append((name, shape, dtype, offset))
    size = int(np.prod(shape)) * dtype.itemsize
    offset += -(-size // 64) * 64     # keep every array 64-byte aligned
  return layout, max(offset, 1)


def _slot_arrays(buffer, layout) -> dict[str, np.ndarray]:
  return {name: np.ndarray(shape, dtype, buffer=buffer, offset=offset)
          for name, shape, dtype, offset in layout}


def _check_shared_memory(needed: int, num_workers: int, prefetch: int):
  """Fails clearly where /dev/shm is too small (containers default to 64 MiB)."""
  try:
    free = shutil.disk_usage('/dev/shm').free
  except OSError:
    return     # no /dev/shm (not Linux): let SharedMemory decide
  if needed > free:
    raise MemoryError(
        f'the numpy loader needs {needed / 2**20:.0f} MiB of shared memory for '
        f'{num_workers} workers + {prefetch} prefetched batches, /dev/shm has '
        f'{free / 2**20:.0f} MiB free: lower data.num_workers / data.prefetch_batches / the '
        'batch size, or give the container more (docker run --shm-size=...)')


def _worker_main(dataset, slot_names, layout, tasks, results):
  """A worker: takes (step, slot, elements, train, seed) tasks until it gets None."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent decides when to stop
  try:
    import cv2  # pylint: disable=g-import-not-at-top
    cv2.setNumThreads(1)     # one core per worker; OpenCV's own threads would oversubscribe
  except ImportError:
    pass
  slots = [shared_memory.SharedMemory(name=name) for name in slot_names]
  arrays = [_slot_arrays(slot.buf, layout) for slot in slots]
  parent = multiprocessing.parent_process()
  try:
    while True:
      try:
        task = tasks.get(timeout=_POLL_SECONDS)
      except queue.Empty:
        if parent is not None and not parent.is_alive():
          break        # the parent was killed without closing us: do not linger
        continue
      if task is None:
        break
      step, slot, elements, train, seed = task
      try:
        skipped = fill_batch(dataset, arrays[slot], elements, train=train, seed=seed)
      except BaseException as e:  # Everything goes back to the parent, named.
        results.put((step, slot, (type(e).__name__, str(e), traceback.format_exc()), []))
        continue
      results.put((step, slot, None, skipped))
  finally:
    del arrays
    for slot in slots:
      slot.close()


def _shutdown(workers, tasks, slots):
  """Stops workers and frees shared memory; safe to call twice (finalizer and close)."""
  for _ in workers:
    try:
      tasks.put_nowait(None)
    except Exception:  # pylint: disable=broad-except
      pass
  for worker in workers:
    worker.join(timeout=2.0)
    if worker.is_alive():
      worker.terminate()
      worker.join(timeout=2.0)
  try:
    tasks.cancel_join_thread()   # nobody will read what is left in the pipe
  except Exception:  # pylint: disable=broad-except
    pass
  for slot in slots:
    try:
      slot.close()
    except BufferError:   # a view is still alive somewhere; unlinking still frees the name
      pass
    try:
      slot.unlink()
    except FileNotFoundError:
      pass
  slots.clear()
  workers.clear()


class NumpyLoader:
  """Iterator of batches (dicts of numpy arrays with a leading batch axis) following a plan."""

  def __init__(self, dataset: ClipDataset, plan: BatchPlan, *, start_step: int = 0,
               num_workers: int = 2, prefetch: int = 2, start_method: str = 'spawn'):
    data_schema.check_choice('data.worker_start_method', start_method)
    self.dataset = dataset
    self.plan = plan
    self.bad_input = BadInputPolicy('skip')   # samples skipped while loading (load_or_skip)
    self.steps_per_epoch = plan.steps_per_epoch
    self._steps = plan.steps(start_step)
    self._num_workers = num_workers
    self._layout, slot_bytes = _batch_layout(dataset, plan.batch_size)
    self._workers: list = []
    self._slots: list = []
    self._closed = False
    if num_workers == 0:
      return
    context = multiprocessing.get_context(start_method)
    self._tasks = context.Queue()
    self._results = context.Queue()
    num_slots = num_workers + max(prefetch, 1)
    _check_shared_memory(num_slots * slot_bytes, num_workers, prefetch)
    self._slots = [shared_memory.SharedMemory(create=True, size=slot_bytes)
                   for _ in range(num_slots)]
    self._arrays = [_slot_arrays(slot.buf, self._layout) for slot in self._slots]
    self._finalizer = weakref.finalize(self, _shutdown, self._workers, self._tasks, self._slots)
    names = [slot.name for slot in self._slots]
    for i in range(num_workers):
      worker = context.Process(target=_worker_main, name=f'clip-loader-{i}', daemon=True,
                               args=(dataset, names, self._layout, self._tasks, self._results))
      worker.start()
      self._workers.append(worker)
    self._free = list(range(num_slots))
    self._pending: list[int] = []        # submitted steps, in order
    self._ready: dict[int, tuple] = {}   # step -> (slot, error or None, skipped)
    self._fill()

  # --- iteration -----------------------------------------------------------------------------

  def __iter__(self):
    return self

  def __next__(self) -> dict[str, np.ndarray]:
    if self._closed:
      raise StopIteration
    try:
      if self._num_workers == 0:
        return self._next_in_process()
      return self._next_from_workers()
    except StopIteration:
      self.close()
      raise
    except BaseException:
      self.close()
      raise

  def _next_in_process(self):
    step = next(self._steps)
    batch = {name: np.empty(shape, dtype) for name, shape, dtype, _ in self._layout}
    report_skipped(self.bad_input, fill_batch(self.dataset, batch, self.plan.batch(step),
                                              train=self.plan.train, seed=self.plan.seed))
    return batch

  def _fill(self):
    while self._free:
      step = next(self._steps, None)
      if step is None:
        return
      slot = self._free.pop()
      self._tasks.put((step, slot, self.plan.batch(step), self.plan.train, self.plan.seed))
      self._pending.append(step)

  def _next_from_workers(self):
    if not self._pending:
      raise StopIteration
    step = self._pending[0]
    while step not in self._ready:
      try:
        done_step, slot, error, skipped = self._results.get(timeout=_POLL_SECONDS)
      except queue.Empty:
        dead = [w for w in self._workers if not w.is_alive()]
        if dead:
          raise WorkerError(f'loader worker {dead[0].name} died (exit code {dead[0].exitcode}) '
                            f'while step {step} was pending') from None
        continue
      self._ready[done_step] = (slot, error, skipped)
    self._pending.pop(0)
    slot, error, skipped = self._ready.pop(step)
    report_skipped(self.bad_input, skipped)
    if error is not None:    # raised in step order, so the same sample fails on every run
      kind, message, trace = error
      raise (SampleError if kind == 'SampleError' else WorkerError)(
          f'loader worker failed on step {step}: {message}\n--- worker traceback ---\n{trace}')
    batch = {name: array.copy() for name, array in self._arrays[slot].items()}
    self._free.append(slot)
    self._fill()
    return batch

  # --- shutdown ------------------------------------------------------------------------------

  def close(self):
    """Stops the workers and frees the shared memory (idempotent)."""
    if self._closed:
      return
    self._closed = True
    self.bad_input.log_summary(f'{self.dataset.split} loader')
    if self._num_workers:
      self._arrays = []
      self._finalizer()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  @property
  def workers(self) -> list:
    return list(self._workers)
