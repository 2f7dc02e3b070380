"""What the benchmarks share: configs, random weights, the PyTorch side, interleaved timing, JSON.

Every benchmark compares ours with a PyTorch model of the published architecture
(`famipose_jax.interop.torch_reference`, built from the same config), in one process, with the
timed calls of the two frameworks interleaved so that a change of machine load hits both. The
PyTorch model uses torchvision's `deform_conv2d` when torchvision imports (as the published code
does) and the plain-PyTorch reference kernel otherwise; the JSON says which.

Weights are random (a real W48 `init` compiles for minutes on CPU), drawn the same way on both
sides, in one of two scales:
  'published'  conv kernels N(0, 0.001), BatchNorm (1, 0): what training starts from; the
               train-mode BatchNorm keeps activations of order one.
  'he'         conv kernels N(0, 1/fan_in): activations of order one with eval-mode BatchNorm
               too, like a trained network's. (The published scale would shrink them into
               subnormal floats, which slow some CPU kernels.)
At both scales the published MI's PyTorch gradient is NaN wherever a softmax underflows, so the
training benchmark computes it in torch_reference's finite-gradient form (same value).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import resource
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
import ml_collections

from configs import local
from configs import dcpose_posetrack17
from configs import posetrack17
from configs import tdmi_posetrack17
from data_pipeline import atomic_files
# pylint: enable=g-import-not-at-top,wrong-import-position

_MB = 1e6


def add_common_flags(parser: argparse.ArgumentParser):
  parser.add_argument('--small', action='store_true',
                      help='the tiny `:local` network at 128x96 (runs in under a minute)')
  parser.add_argument('--threads', type=int, default=2,
                      help='PyTorch intra-op threads (XLA:CPU uses every core it is given)')
  parser.add_argument('--rounds', type=int, default=3, help='timed calls of each side')
  parser.add_argument('--no-torch', dest='torch', action='store_false',
                      help='time ours only (also gives a peak memory that is ours alone)')
  parser.add_argument('--torch-device', default='auto',
                      help="PyTorch's device: 'auto' (cuda where PyTorch sees a GPU), 'cpu', "
                           "'cuda'")
  parser.add_argument('--json', default='', help='also write the result to this JSON file')
  parser.add_argument('--family', default='famipose', choices=tuple(FAMILY_CONFIGS),
                      help='the model family (its published PoseTrack17 config)')


# Each family's published PoseTrack17 config (configs/).
FAMILY_CONFIGS = {'famipose': posetrack17.get_config, 'dcpose': dcpose_posetrack17.get_config,
                  'tdmi': tdmi_posetrack17.get_config}
# The families with a published PyTorch model to time against (TDMI released none).
TORCH_FAMILIES = ('famipose', 'dcpose')


def check_torch_side(args) -> None:
  """Stops with a usage error where --family has no PyTorch side and --no-torch is not given."""
  if args.torch and args.family not in TORCH_FAMILIES:
    raise SystemExit(f'--family {args.family}: there is no published PyTorch model to time '
                     'against; add --no-torch')


def experiment_config(small: bool, family: str = 'famipose') -> ml_collections.ConfigDict:
  """A family's published PoseTrack17 setup (W48, 384x288; FAMI-Pose: 4 supporting frames,
  DCPose: previous and next) or its local shrink."""
  config = FAMILY_CONFIGS[family]()
  return local.run_locally(config) if small else config


def add_config_flags(parser: argparse.ArgumentParser):
  """--config/--stage: time a config file's own step instead of a published W48 setup."""
  parser.add_argument('--config', default='',
                      help="FILE[:variant] (default: FAMI-Pose's published W48 PoseTrack17)")
  parser.add_argument('--stage', type=int, default=2, choices=(1, 2),
                      help="with --config: a two-stage config's stage (1: its single-frame "
                      'backbone)')


def config_from_flags(args, small: bool = False) -> ml_collections.ConfigDict:
  """The config that add_config_flags' flags name (else experiment_config(small))."""
  if not args.config:
    return experiment_config(small)
  from famipose_jax.config import loader  # pylint: disable=g-import-not-at-top
  from famipose_jax.train import stages  # pylint: disable=g-import-not-at-top
  config = loader.load_config_file(args.config)
  return stages.pretrain_config(config) if args.stage == 1 else config


WEIGHT_SCALES = ('published', 'he')


def _check_scale(scale: str):
  if scale not in WEIGHT_SCALES:
    raise ValueError(f'weight scale {scale!r}: expected one of {WEIGHT_SCALES}')


def random_variables(shapes: Any, scale: str, seed: int = 0) -> Any:
  """Host arrays for a tree of ShapeDtypeStructs: random kernels (`scale`), unit BatchNorm."""
  _check_scale(scale)
  rng = np.random.default_rng(seed)

  def fill(path, x):
    name = path[-1].key
    if name in ('scale', 'var'):
      return np.ones(x.shape, np.float32)
    if name in ('bias', 'mean'):
      return np.zeros(x.shape, np.float32)
    std = 0.001 if scale == 'published' else math.sqrt(1.0 / (math.prod(x.shape[:-1]) or 1))
    return rng.normal(0.0, std, x.shape).astype(np.float32)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def import_torch(threads: int):
  """(torch, torchvision or None) with `threads` intra-op threads."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(threads)
  try:
    import torchvision  # pylint: disable=g-import-not-at-top
  except Exception:  # pylint: disable=broad-except
    torchvision = None   # e.g. PyPI torchvision beside a CPU torch wheel that it cannot load
  return torch, torchvision


def torch_device(torch, name: str):
  """The torch.device for a --torch-device value."""
  if name == 'auto':
    name = 'cuda' if torch.cuda.is_available() else 'cpu'
  return torch.device(name)


def synchronized(torch, device, call: Callable[[], Any]) -> Callable[[], None]:
  """`call`, then wait for the GPU's queue where `device` is one (timings need the end)."""
  def run():
    call()
    if device.type == 'cuda':
      torch.cuda.synchronize(device)
  return run


def torch_model(model_config: ml_collections.ConfigDict, num_supporting: int, torchvision,
                scale: str):
  """(the published architecture of config.model's family in PyTorch, weights at `scale`,
  the DCN kernel's name)."""
  import torch  # pylint: disable=g-import-not-at-top
  from famipose_jax.interop import dcpose_reference  # pylint: disable=g-import-not-at-top
  from famipose_jax.interop import torch_reference  # pylint: disable=g-import-not-at-top
  _check_scale(scale)
  dcn = 'torchvision' if torchvision is not None else 'reference'
  if model_config.family == 'dcpose':
    model = dcpose_reference.DCPoseReference(model_config, dcn=dcn)
    dcpose_reference.published_init_(model)
  else:
    model = torch_reference.FamiPoseReference(model_config, num_supporting=num_supporting,
                                              dcn=dcn)
    torch_reference.published_init_(model)
  if scale == 'he':
    with torch.no_grad():
      for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
          torch.nn.init.kaiming_normal_(module.weight, nonlinearity='linear')
  return model, dcn


def interleaved(calls: dict[str, Callable[[], Any]], rounds: int,
                warmup: int = 1) -> dict[str, list[float]]:
  """Seconds per call of each entry, called in turn (a, b, a, b, ...) after `warmup` calls each."""
  for _ in range(warmup):
    for call in calls.values():
      call()
  times = {name: [] for name in calls}
  for _ in range(rounds):
    for name, call in calls.items():
      start = time.perf_counter()
      call()
      times[name].append(time.perf_counter() - start)
  return times


def seconds(times: list[float]) -> dict[str, float]:
  return {'median_s': statistics.median(times), 'min_s': min(times),
          'all_s': [round(t, 4) for t in times]}


def compile_with_timing(jitted, *args) -> tuple[Any, dict[str, float]]:
  """(compiled, {'lower_s', 'compile_s'}) of a jitted function for these arguments."""
  start = time.perf_counter()
  lowered = jitted.lower(*args)
  lowered_at = time.perf_counter()
  compiled = lowered.compile()
  return compiled, {'lower_s': lowered_at - start,
                    'compile_s': time.perf_counter() - lowered_at}


def xla_memory_mb(compiled) -> dict[str, float]:
  memory = compiled.memory_analysis()
  return {'xla_temp_mb': getattr(memory, 'temp_size_in_bytes', 0) / _MB,
          'xla_argument_mb': getattr(memory, 'argument_size_in_bytes', 0) / _MB,
          'xla_output_mb': getattr(memory, 'output_size_in_bytes', 0) / _MB}


# Dense peak TFLOP/s by device kind and dtype, from vendors' datasheets: for a model FLOP
# utilisation figure only (pass --peak-tflops for another device).
PEAK_TFLOPS = {('H100', 'float32'): 67.0, ('H100', 'bfloat16'): 989.0,
               ('H200', 'float32'): 67.0, ('H200', 'bfloat16'): 989.0}


def peak_tflops(dtype: str, given: float) -> float | None:
  if given:
    return given
  kind = jax.devices()[0].device_kind
  return next((v for (name, d), v in PEAK_TFLOPS.items() if name in kind and d == dtype), None)


def flops(compiled) -> float | None:
  """XLA's count of floating-point operations in one call of a compiled function."""
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0] if analysis else {}
  value = (analysis or {}).get('flops')
  return float(value) if value else None


def _cpu_model() -> str:
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      info = f.read()
  except OSError:
    return platform.processor()
  fields = {k.strip(): v.strip() for k, v in (line.split(':', 1) for line in info.splitlines()[:30]
                                              if ':' in line)}
  flags = next((line for line in info.splitlines() if line.startswith('flags')), '')
  isa = [f for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16') if f' {f}' in flags]
  return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} model "
          f"{fields.get('model', '?')}; {', '.join(isa) or 'no AVX2'})")


def machine(torch_module=None, torchvision=None) -> dict[str, Any]:
  out = {
      'date': datetime.datetime.now().isoformat(timespec='seconds'),
      'cpu': _cpu_model(), 'cores': os.cpu_count(), 'load_average': os.getloadavg(),
      'device': str(jax.devices()[0]), 'jax': jax.__version__, 'python': platform.python_version(),
  }
  if torch_module is not None:
    out['torch'] = torch_module.__version__
    out['torchvision'] = getattr(torchvision, '__version__', None)
  return out


def peak_rss_mb() -> float:
  """The process's peak resident memory (Linux ru_maxrss is in KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / _MB


def report(result: dict[str, Any], json_path: str):
  import json  # pylint: disable=g-import-not-at-top
  print(json.dumps(result, indent=1, default=float))
  if json_path:
    atomic_files.write_json_atomic(json_path, result)


def torch_forward(model, model_config, key, support):
  """The reference's forward on normalised NCHW key [B, 3, H, W] and support [B, N, 3, H, W]
  frames, as the published model takes them (DCPose: the 9-channel stack and (1, 1) margins)."""
  import torch  # pylint: disable=g-import-not-at-top
  if model_config.family == 'dcpose':
    x = torch.cat([key, support[:, 0], support[:, 1]], dim=1)
    margin = torch.ones(key.shape[0], 2, dtype=torch.int64, device=key.device)
    return model(x, margin)
  return model(key, support)


def torch_backbone(model):
  """The reference's HRNet (frozen in the published training step)."""
  return getattr(model, 'rough_pose_estimation_net', None) or model.hrnet
