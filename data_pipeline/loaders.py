"""The common entry point: `make_loader` picks the numpy or the tf.data loader."""

from __future__ import annotations

from data_pipeline.batch_plan import BatchPlan
from data_pipeline.dataset import ClipDataset
from data_pipeline import config as data_schema


def make_loader(data_config, dataset: ClipDataset, *, batch_size: int, train: bool, seed: int,
                start_step: int = 0, process_index: int = 0, process_count: int = 1,
                loader: str | None = None, num_workers: int | None = None):
  """An iterator of batches (fields in docs/data.md), fixed shapes, this process's share.

  Args:
    data_config: config.data (loader, num_workers, prefetch_batches, worker_start_method).
    dataset: from `build_dataset`.
    batch_size: clips per batch on this process (global batch / process_count).
    train: True: augmentation, seeded shuffle per epoch, drop remainder, endless (resumable
      at `start_step`). False: one pass in order, the last batch padded (valid = False).
    seed: the run's seed; with (epoch, sample index) it fixes every random draw.
    start_step: the first global step to produce (a resumed run continues the same order).
    process_index, process_count: this host's slice of every global batch.
    loader: 'numpy' | 'tfdata' (default: data_config.loader).
    num_workers: worker processes / parallel calls (default: data_config.num_workers).

  Returns:
    An iterator with `steps_per_epoch`, `plan`, `close()`, usable as a context manager.
  """
  loader = loader or data_config.loader
  data_schema.check_choice('data.loader', loader)
  plan = BatchPlan(num_samples=len(dataset), batch_size=batch_size, train=train, seed=seed,
                   process_index=process_index, process_count=process_count)
  workers = data_config.num_workers if num_workers is None else num_workers
  if loader == 'tfdata':
    from data_pipeline.loader_tfdata import TfDataLoader  # pylint: disable=g-import-not-at-top
    return TfDataLoader(dataset, plan, start_step=start_step,
                        num_parallel_calls=max(workers, 1),
                        prefetch=data_config.prefetch_batches)
  from data_pipeline.loader_numpy import NumpyLoader  # pylint: disable=g-import-not-at-top
  return NumpyLoader(dataset, plan, start_step=start_step, num_workers=workers,
                     prefetch=data_config.prefetch_batches,
                     start_method=data_config.worker_start_method)
