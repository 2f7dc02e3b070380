"""Data parallelism over a one-axis device mesh: batches split on 'data', parameters replicated.

The mesh axis is Auto (the compiler propagates shardings), so the same jitted step runs on one
device, on several simulated CPU devices, and across hosts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

DATA_AXIS = 'data'


def make_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D mesh named 'data' over `devices` (default: every device of every process)."""
  devices = list(jax.devices() if devices is None else devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,), axis_types=(AxisType.Auto,),
                       devices=devices)


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def data_sharded(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over 'data'; other axes whole."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh, name: str = 'batch_size'):
  """Every device must get the same number of examples, every process the same share."""
  devices = mesh.devices.size
  if global_batch % devices:
    raise ValueError(f'config.{name}={global_batch} is not divisible by the {devices} devices of '
                     f'the mesh; choose a multiple of {devices}.')
  if global_batch % jax.process_count():
    raise ValueError(f'config.{name}={global_batch} is not divisible by the '
                     f'{jax.process_count()} processes.')


def local_batch_size(global_batch: int) -> int:
  """Examples this process loads per step."""
  return global_batch // jax.process_count()


def create_replicated(fn: Callable[..., Any], mesh: Mesh, *args) -> Any:
  """Runs `fn(*args)` under jit with every output replicated over the mesh.

  Parameters and optimiser state are created directly in their final placement, never as a
  host copy that is transferred afterwards.
  """
  return jax.jit(fn, out_shardings=replicated(mesh))(*args)


def put_batch(batch: Mapping[str, np.ndarray], mesh: Mesh,
              keys: Sequence[str] | None = None) -> dict[str, jax.Array]:
  """This process's share of a batch -> global arrays split over 'data'.

  Args:
    batch: {name: [b, ...]} numpy arrays, b = global batch / process count.
    mesh: the data mesh.
    keys: which entries to place (default all); host-only metadata stays behind.

  Returns:
    {name: jax.Array [B, ...]} with B = b * process count.
  """
  sharding = data_sharded(mesh)
  out = {}
  for name in (keys if keys is not None else batch.keys()):
    local = np.asarray(batch[name])
    global_shape = (local.shape[0] * jax.process_count(),) + local.shape[1:]
    out[name] = jax.make_array_from_process_local_data(sharding, local, global_shape)
  return out
