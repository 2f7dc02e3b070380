"""Where a run executes: device mesh and sharding, processes, compiler options, signals, progress."""
