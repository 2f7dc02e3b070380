"""The jitted step on 1 device and on 4 simulated CPU devices gives the same training run.

XLA_FLAGS must be set before JAX starts, so the comparison runs in a child process (this file
executed as a script), which prints the largest differences as JSON.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.train_support import subprocess_env
from tests.train_support import tolerance_ratios

NUM_STEPS = 3


def _build(config):
  from famipose_jax import experiment  # pylint: disable=g-import-not-at-top
  return experiment.Experiment(config, steps_per_epoch=2)


def _run_on(devices, config, initial_state, batches):
  """Trains from the host copy `initial_state` on a mesh over `devices`."""
  import jax  # pylint: disable=g-import-not-at-top
  from famipose_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  mesh = sharding.make_mesh(devices)
  state = jax.device_put(initial_state, sharding.replicated(mesh))
  assert all(len(leaf.sharding.device_set) == len(devices)
             for leaf in jax.tree_util.tree_leaves(state))
  step = _build(config).train_step(mesh)
  losses_seen = []
  for batch in batches:
    placed = sharding.put_batch(batch, mesh)
    assert placed['key_image'].sharding.spec[0] == sharding.DATA_AXIS
    state, metrics = step(state, placed)
    losses_seen.append(float(metrics['loss']))
  return jax.device_get(state), losses_seen


def _child():
  import jax  # pylint: disable=g-import-not-at-top
  from famipose_jax.runtime import sharding  # pylint: disable=g-import-not-at-top
  from tests.train_support import smoke_config  # pylint: disable=g-import-not-at-top
  assert jax.device_count() == 4, jax.devices()
  # The learned MI critic covers the most code: model and critic trained by one gradient.
  # Adam's eps = 1 makes updates proportional to the gradient. With the default 1e-8 Adam turns
  # any gradient well above 1e-8 into a step of +-lr, so summation-order noise in gradients that
  # are nearly zero would flip whole lr-sized steps, which says nothing about the sharding.
  config = smoke_config('unused', batch_size=8, **{'model.famipose.mi': 'critic', 'optim.eps': 1.0})
  rng = np.random.default_rng(0)
  width, height = config.model.image_size
  b, n = config.batch_size, len(config.data.supporting_offsets)
  batches = []
  for _ in range(NUM_STEPS):
    heatmap = rng.random((b, height // 4, width // 4, 17)).astype(np.float32) ** 8
    batches.append({
        'key_image': rng.normal(size=(b, height, width, 3)).astype(np.float32),
        'supporting_images': rng.normal(size=(b, n, height, width, 3)).astype(np.float32),
        'heatmap': heatmap, 'target_weight': (rng.random((b, 17)) > 0.2).astype(np.float32)})
  # Created sharded over all 4 devices, as training does; each run starts from a host copy.
  initial = _build(config).init_state(sharding.make_mesh())
  assert len(jax.tree_util.tree_leaves(initial)[0].sharding.device_set) == 4
  initial = jax.device_get(initial)
  one, losses_one = _run_on(jax.devices()[:1], config, initial, batches)
  four, losses_four = _run_on(jax.devices(), config, initial, batches)
  critic_moved = any(not np.array_equal(a, c) for a, c in zip(
      jax.tree_util.tree_leaves(initial.params['critic']),
      jax.tree_util.tree_leaves(one.params['critic'])))
  # Within the tolerances of train_support (relative to each leaf's scale, moments looser).
  ratios = tolerance_ratios(one, four)
  diffs = [ratio for _, ratio, _ in ratios]
  worst = max(ratios, key=lambda r: r[1])
  print(json.dumps({'losses_one': losses_one, 'losses_four': losses_four,
                    'max_tolerance_ratio': max(diffs), 'num_leaves': len(diffs),
                    'critic_leaves': len(jax.tree_util.tree_leaves(one.params['critic'])),
                    'critic_moved': critic_moved,
                    'worst_leaf': worst, 'step': int(one.step)}))


@pytest.mark.slow
def test_one_device_equals_four_simulated_devices(compile_cache):
  env = subprocess_env(compile_cache)
  env['XLA_FLAGS'] = (env.get('XLA_FLAGS', '')
                      + ' --xla_force_host_platform_device_count=4').strip()
  result = subprocess.run([sys.executable, os.path.abspath(__file__), '--child'], env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['step'] == NUM_STEPS and report['critic_leaves'] > 0 and report['critic_moved']
  np.testing.assert_allclose(report['losses_four'], report['losses_one'], rtol=1e-5, atol=1e-6)
  assert report['max_tolerance_ratio'] <= 1.0, report


if __name__ == '__main__' and '--child' in sys.argv:
  _child()
