"""Several processes in one run: jax.distributed, waiting for each other, stopping together.

One process per host (or, for tests, several on one host). Process 0 runs the coordination
service; every process sends it heartbeats, and when one stops (killed, crashed, its host gone)
JAX ends the others within `train.heartbeat_timeout_seconds`, with a line naming the task that
stopped ('The following tasks are unhealthy (stopped sending heartbeats): 1'), or at once if
process 0 is the one lost. Rerunning every process resumes from the last complete checkpoint.

On CPU, collectives across processes go through gloo (JAX's default
`jax_cpu_collectives_implementation`). Gloo connects the processes at the first collective of
each compiled program and gives up after 30 s, while the processes may reach that point far
apart: JAX's persistent compilation cache serves only process 0 on CPU (its keys hold each
process's topology fingerprint), so the others compile every program while process 0 loads
it. `compile_everywhere` and `barrier` close that gap through the coordination service, which
waits as long as it is told to.

A stop signal reaches each process on its own; `StopVote` makes them stop at the same step.
"""

from __future__ import annotations

import itertools
import signal
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import Mesh

from famipose_jax.runtime import sharding

# How long a barrier waits for the slowest process (a compile of the full model, process 0
# scoring an evaluation). A process that died ends the wait sooner, through the heartbeats.
BARRIER_TIMEOUT_SECONDS = 3600

_barrier_count = itertools.count()   # every process passes the same barriers in the same order


def initialize(train_config: ml_collections.ConfigDict):
  """jax.distributed.initialize() when `train_config.distributed` (before any other JAX call).

  Unset fields (coordinator '', num_processes 0, process_id -1) are left to JAX's detection
  (SLURM, Open MPI, TPU pods).
  """
  if not train_config.distributed or jax.distributed.is_initialized():
    return
  kwargs = {'heartbeat_timeout_seconds': train_config.heartbeat_timeout_seconds}
  if train_config.coordinator_address:
    kwargs['coordinator_address'] = train_config.coordinator_address
  if train_config.num_processes:
    kwargs['num_processes'] = train_config.num_processes
  if train_config.process_id >= 0:
    kwargs['process_id'] = train_config.process_id
  jax.distributed.initialize(**kwargs)
  # Every process says who it is: its log is the one place its failures appear.
  print(f'process {jax.process_index()} of {jax.process_count()}: {jax.local_device_count()} '
        f'of {jax.device_count()} {jax.default_backend()} devices', flush=True)


def failed_collective(error: BaseException) -> bool:
  """Whether `error` is a program's collective across processes that failed.

  With several processes, an XLA runtime error while arrays move between them (a step, a
  checkpoint read back) almost always means that another process stopped and its connections
  broke ('Connection reset by peer'); it says nothing about the data or the files.
  """
  return jax.process_count() > 1 and isinstance(error, jax.errors.JaxRuntimeError)


def lost_peer_message(error: BaseException) -> str:
  """The line a process prints when `failed_collective(error)`."""
  first_line = (str(error).strip().splitlines() or [''])[0][:300]
  return (f'process {jax.process_index()} of {jax.process_count()} lost contact with the other '
          f'processes ({type(error).__name__}: {first_line}). One of them has probably stopped: '
          'its log says why, and JAX names it here when it ends this process (within '
          'train.heartbeat_timeout_seconds). Rerun every process: the run resumes from the last '
          'complete checkpoint.')


def barrier(name: str):
  """Waits until every process has called `barrier(name)` (no-op with one process).

  A wait in the coordination service, not a collective on the devices: it needs no compiled
  program and no gloo connection, and it waits up to BARRIER_TIMEOUT_SECONDS.
  """
  if jax.process_count() == 1:
    return
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top (heavy; multi-process only)
  sync = ocp.multihost.get_barrier_sync_fn()
  sync(key=f'famipose_jax:{next(_barrier_count)}:{name}', timeout_ms=BARRIER_TIMEOUT_SECONDS * 1000)


def compile_everywhere(jitted: Callable, *args: Any, name: str) -> Callable:
  """`jitted` compiled for `args`, returned once every process has compiled it.

  With one process `jitted` itself is returned. With several, the compiled executable (called
  like `jitted`, for arguments shaped and placed like `args`), so that no process starts the
  program's collectives while another is still compiling it.
  """
  if jax.process_count() == 1:
    return jitted
  compiled = jitted.lower(*args).compile()
  barrier(f'compiled {name}')
  return compiled


class StopVote:
  """The processes' agreement on a stop signal: each step, the largest signal any has seen.

  Each process receives its own SIGTERM, at its own step; one that stopped alone would leave
  the others waiting in a collective (seen: both hung until killed). So a process casts the
  signal it has seen (or none) after dispatching each step, and every process reads the same
  result a step later, when the loop waits for that step's metrics anyway.
  """

  def __init__(self, mesh: Mesh):
    self._mesh = mesh
    self._largest = None   # compiled at the first cast

  def cast(self, signal_name: str | None) -> jax.Array:
    """The vote of this process ('SIGTERM', 'SIGINT' or None), dispatched, not waited for."""
    number = signal.Signals[signal_name].value if signal_name else 0
    local = np.full((len(self._mesh.local_devices),), number, np.int32)
    votes = jax.make_array_from_process_local_data(sharding.data_sharded(self._mesh), local,
                                                   (self._mesh.devices.size,))
    if self._largest is None:
      largest = jax.jit(jnp.max, out_shardings=sharding.replicated(self._mesh))
      self._largest = compile_everywhere(largest, votes, name='stop vote')
    return self._largest(votes)

  @staticmethod
  def result(cast: jax.Array | None) -> str | None:
    """The signal a cast vote agreed on, or None (waits for it)."""
    number = 0 if cast is None else int(jax.device_get(cast))
    return signal.Signals(number).name if number else None
