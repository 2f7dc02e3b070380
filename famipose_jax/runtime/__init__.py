"""Where a run executes: mesh and sharding, processes, compiler options, signals, progress."""
