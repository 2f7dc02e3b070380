"""Train step: ours against the published architecture in PyTorch, same shapes, same process.

  python bench/train_step.py                       # W48 384x288, B=2, key + 4 supporting frames
  python bench/train_step.py --batch 1 --rounds 5 --json /tmp/train_b1.json
  python bench/train_step.py --small               # tiny network, under a minute
  python bench/train_step.py --family dcpose       # DCPose W48: key, previous and next frame
  python bench/train_step.py --family tdmi --no-torch   # TDMI W48, 5 frames: ours only

Both sides run the family's published training step: frozen backbone whose BatchNorm still
normalises with batch statistics (and updates its running statistics), the head trained
(FAMI-Pose's alignment, DCPose's PRF/PTM/PCN), loss = joint MSE (+ FAMI-Pose's published MI
terms), one Adam update. Ours is the trainer's own
jitted step (`Experiment.train_step`, uint8 pixels normalised on the device); PyTorch's is
forward, loss, backward and `torch.optim.Adam.step` on float32 NCHW tensors. Calls alternate
between the two; `ratio` is PyTorch's seconds per step over ours (above 1: ours is faster).
Run it on a quiet machine (`uptime`) and repeat: the machine is shared and its speed moves.
"""

from __future__ import annotations

import argparse

import numpy as np

import harness  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-position,g-bad-import-order
import jax
import jax.numpy as jnp

from famipose_jax import experiment as experiment_lib
from famipose_jax.runtime import sharding
from famipose_jax.train.state import TrainState
# pylint: enable=g-import-not-at-top,wrong-import-position,g-bad-import-order


def jax_state(experiment, mesh) -> TrainState:
  """A train state with random weights at the published init's scale, replicated over `mesh`."""
  model, tx = experiment.model, experiment.tx
  shapes = jax.eval_shape(model.init, jax.random.key(0), *experiment.example_inputs())
  variables = harness.random_variables(shapes, 'published')
  params = {'model': variables['params'], 'critic': {}}
  if experiment.critic is not None:   # e.g. TDMI's CLUB q network: initialised on the outputs
    outputs = jax.eval_shape(lambda v: model.apply(v, *experiment.example_inputs()), shapes)
    critic_shapes = jax.eval_shape(
        lambda key, out: experiment.critic.init(key, out, {}), jax.random.key(1), outputs)
    params['critic'] = harness.random_variables(critic_shapes, 'he')['params']
  replicated = sharding.replicated(mesh)
  params = jax.device_put(params, replicated)
  return TrainState(step=jax.device_put(jnp.zeros((), jnp.int32), replicated), params=params,
                    batch_stats=jax.device_put(variables['batch_stats'], replicated),
                    opt_state=jax.jit(tx.init, out_shardings=replicated)(params))


def random_batch(experiment, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
  """uint8 frames (frame offsets: the clip's own), heatmap targets and joint weights, as the
  loaders hand them out."""
  config = experiment.config
  rng = np.random.default_rng(seed)
  out = {}
  for name, (shape, dtype) in experiment.input_shapes(batch).items():
    out[name] = (rng.integers(0, 256, shape, np.uint8) if dtype == np.uint8 else
                 np.broadcast_to(np.asarray(experiment.clip.offsets, dtype), shape).copy())
  hw, hh = config.model.heatmap_size
  k = config.model.num_joints
  out.update(heatmap=rng.random((batch, hh, hw, k), np.float32),
             target_weight=np.ones((batch, k), np.float32))
  return out


def jax_side(experiment, host_batch):
  """(a call that runs one step, its compile timing and XLA memory); call.compiled is the step."""
  mesh = sharding.make_mesh(jax.devices()[:1])
  state = jax_state(experiment, mesh)
  step = experiment.train_step(mesh)
  batch = sharding.put_batch(host_batch, mesh, experiment.train_keys)
  compiled, timing = harness.compile_with_timing(step, state, batch)
  holder = {'state': state}

  def call():
    holder['state'], metrics = compiled(holder['state'], batch)
    jax.block_until_ready(metrics['loss'])

  call.compiled = compiled   # for bench/profile_step.py
  return call, dict(timing, model_flops=harness.flops(compiled), **harness.xla_memory_mb(compiled))


def torch_side(torch, torchvision, config, host_batch, num_supporting: int, device):
  """(a call that runs one published training step in PyTorch, the DCN kernel it uses)."""
  from famipose_jax.interop import torch_reference  # pylint: disable=g-import-not-at-top
  model, dcn = harness.torch_model(config.model, num_supporting, torchvision, 'published')
  model.to(device)
  model.train()   # the published quirk: the frozen backbone's BatchNorm stays in train mode
  for parameter in harness.torch_backbone(model).parameters():
    parameter.requires_grad_(False)
  trainable = [p for p in model.parameters() if p.requires_grad]
  optimizer = torch.optim.Adam(trainable, lr=config.optim.learning_rate,
                               betas=(config.optim.b1, config.optim.b2), eps=config.optim.eps)
  mean = torch.tensor(config.data.mean).view(1, 3, 1, 1)
  std = torch.tensor(config.data.std).view(1, 3, 1, 1)
  # Contiguous NCHW, as the published ToTensor hands them out.
  to_input = lambda x: ((torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 - mean)
                        / std).contiguous().to(device)
  key = to_input(host_batch['key_image'])
  support = torch.stack([to_input(host_batch['supporting_images'][:, i])
                         for i in range(num_supporting)], dim=1)
  target = torch.from_numpy(host_batch['heatmap']).permute(0, 3, 1, 2).contiguous().to(device)
  weight = torch.from_numpy(host_batch['target_weight'])[:, :, None, None].to(device)
  loss_config = config.loss
  own = config.model.famipose if config.model.family == 'famipose' else None

  def call():
    optimizer.zero_grad(set_to_none=True)
    out = harness.torch_forward(model, config.model, key, support)
    task = torch.mean((out['heatmaps'] * weight - target * weight) ** 2)
    loss = loss_config.heatmap_weight * task
    if own is not None and own.mi == 'published':
      # Finite gradients where the random network's softmaxes underflow: same value, and
      # no NaN offsets reaching torchvision's DCN after the first Adam step.
      mi, _ = torch_reference.published_mi_terms(out, own.mi_temperature, own.mi_alpha,
                                                 own.mi_beta, finite_gradient=True)
      loss = loss + mi
    loss.backward()
    optimizer.step()

  return harness.synchronized(torch, device, call), dcn


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch', type=int, default=2, help='clips per step')
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                      help='our compute dtype (model.dtype; PyTorch stays float32)')
  parser.add_argument('--compile-only', action='store_true',
                      help="compile ours and report XLA's memory analysis, no timing (to find "
                           'the largest batch that fits)')
  parser.add_argument('--peak-tflops', type=float, default=0.0,
                      help='device peak for the model FLOP utilisation (known GPUs: automatic)')
  harness.add_common_flags(parser)
  args = parser.parse_args(argv)

  harness.check_torch_side(args)
  config = harness.experiment_config(args.small, args.family)
  config.model.dtype = args.dtype
  if config.model.family == 'famipose' and config.model.famipose.mi not in ('published', 'none'):
    raise ValueError(f'model.famipose.mi={config.model.famipose.mi!r}: the PyTorch side has the '
                     'published MI only')
  experiment = experiment_lib.Experiment(config, steps_per_epoch=1000)
  num_supporting = len(experiment.clip.offsets)
  host_batch = random_batch(experiment, args.batch)
  torch = torchvision = None
  if args.torch:
    torch, torchvision = harness.import_torch(args.threads)
    device = harness.torch_device(torch, args.torch_device)
  result = {'benchmark': 'train_step', 'family': args.family, 'batch': args.batch,
            'threads': args.threads,
            'dtype': args.dtype,
            'small': args.small, 'num_supporting': num_supporting,
            'image_size_wh': list(config.model.image_size),
            'backbone_width': config.model.backbone.stage4.num_channels[0],
            'machine': harness.machine(torch, torchvision)}
  jax_call, result['jax_compile'] = jax_side(experiment, host_batch)
  if args.compile_only:
    result['peak_rss_mb'] = harness.peak_rss_mb()
    harness.report(result, args.json)
    return result
  calls = {'jax': jax_call}
  if args.torch:
    calls['torch'], result['torch_dcn'] = torch_side(torch, torchvision, config, host_batch,
                                                     num_supporting, device)
    result['torch_device'] = str(device)
  times = harness.interleaved(calls, args.rounds)
  for name, values in times.items():
    result[name] = harness.seconds(values)
    result[f'{name}_s_per_step'] = result[name]['median_s']
    result[f'{name}_clips_per_s'] = args.batch / result[name]['median_s']
  if args.torch:
    result['ratio'] = result['torch_s_per_step'] / result['jax_s_per_step']
  model_flops = result['jax_compile']['model_flops']
  if model_flops:
    result['jax_tflops_per_s'] = model_flops / result['jax_s_per_step'] / 1e12
    peak = harness.peak_tflops(args.dtype, args.peak_tflops)
    if peak:
      result['jax_mfu'] = result['jax_tflops_per_s'] / peak
  result['peak_rss_mb'] = harness.peak_rss_mb()
  harness.report(result, args.json)
  return result


if __name__ == '__main__':
  main()
