"""XLA options for the jitted train, eval and predict steps: the one place they are chosen.

On XLA:CPU (jax 0.10) convolutions, matrix products, elementwise ops and reductions run in
YNNPACK fusions by default. For HRNet's layers XLA's own convolution runtime was faster on the
CPU we measured, up to 4.3x on its 1x1 convolutions, while YNNPACK's reductions are 12x faster
than XLA's own (which split every long reduction into 32-wide windows): BatchNorm's batch
statistics over B x H x W. So `xla_cpu_experimental_ynn_fusion_type` keeps only reductions
for YNNPACK (BENCHMARKS.md has the figures, docs/performance.md the reasons). Other backends
take XLA's defaults. `FAMIPOSE_XLA_CPU_DEFAULTS=1` in the environment restores XLA:CPU's
defaults, e.g. to compare on another CPU (bench/conv_layers.py compares both, layer by layer).
"""

from __future__ import annotations

import os
from typing import Any

import jax

CPU_OPTIONS = {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_REDUCE'}
DEFAULTS_ENV = 'FAMIPOSE_XLA_CPU_DEFAULTS'


def for_backend(backend: str | None = None) -> dict[str, Any]:
  """compiler_options for `jax.jit` on `backend` (default: JAX's default backend)."""
  backend = backend or jax.default_backend()
  if backend != 'cpu' or os.environ.get(DEFAULTS_ENV, '') not in ('', '0'):
    return {}
  return dict(CPU_OPTIONS)


def jit(fn, **kwargs):
  """`jax.jit(fn, **kwargs)` with this module's compiler options."""
  return jax.jit(fn, compiler_options=for_backend(), **kwargs)
