"""Everything between files on disk and model batches: annotations, crops, targets, loaders."""
