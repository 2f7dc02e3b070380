"""Compiled programs kept between runs of a command: JAX's persistent compilation cache.

The predict command compiles its network on every run (1.2 s for the test fixture's, tens of
seconds for a W48 FAMI-Pose on a CPU), and the training command its train, initialisation and
evaluation steps (about 40 s for the demo's two stages, minutes for W48 on a CPU), again on
every resume. With a cache folder, a later run with the same program, JAX version and devices
loads the compiled program instead (JAX's own cache, keyed by all of these, so it never changes
a result; programs that compile in under a second are not kept; with several processes only
the first writes). Where JAX already has a folder (JAX_COMPILATION_CACHE_DIR in the
environment, or set by the caller, as the test suite and the ablation study do), that one is
used.
"""

from __future__ import annotations

import os


def cache_home() -> str:
  """This project's folder of caches: $XDG_CACHE_HOME/famipose-jax (~/.cache/famipose-jax)."""
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(root, 'famipose-jax')


def default_folder() -> str:
  """Where the commands keep compiled programs: cache_home()/compile-cache."""
  return os.path.join(cache_home(), 'compile-cache')


def use(folder: str | None) -> str | None:
  """Keeps compiled programs in `folder` ('' or None: none) from now on in this process,
  unless JAX already has a cache folder; returns the folder in use (None: no cache)."""
  # Imported here: the predict command imports this module before it starts its detection
  # workers, which import the command again and need no JAX.
  import jax  # pylint: disable=g-import-not-at-top
  current = jax.config.jax_compilation_cache_dir
  if current:
    return current
  if not folder:
    return None
  jax.config.update('jax_compilation_cache_dir', os.path.abspath(folder))
  return jax.config.jax_compilation_cache_dir
