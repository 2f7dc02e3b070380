"""Everything between files on disk and model batches: annotations, crops, targets, loaders.

  dataset = data_pipeline.build_dataset(config.data, 'train')
  with data_pipeline.make_loader(config.data, dataset, batch_size=48, train=True,
                                 seed=config.seed) as batches:
    batch = next(batches)

The entry points are imported lazily, so `import data_pipeline.joints` stays light.
"""

_EXPORTS = {
    'build_dataset': 'data_pipeline.dataset',
    'ClipDataset': 'data_pipeline.dataset',
    'make_loader': 'data_pipeline.loaders',
}


def __getattr__(name):
  if name in _EXPORTS:
    import importlib  # pylint: disable=g-import-not-at-top
    return getattr(importlib.import_module(_EXPORTS[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
