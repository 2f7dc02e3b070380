"""The published optimiser: milestone schedule, frozen backbone, the BatchNorm quirk."""

import jax
import numpy as np
import pytest

from configs import posetrack17
from famipose_jax import experiment as experiment_lib
from famipose_jax.train import optim
from famipose_jax.runtime import sharding
from tests.train_support import smoke_config


def test_schedule_values_at_milestones():
  config = posetrack17.get_config()
  schedule = optim.learning_rate_schedule(config.optim, steps_per_epoch=10)
  # Epoch e trains with 1e-3 * 0.1 ** #{8, 12, 16 <= e}; update s belongs to epoch s // 10.
  expected = {0: 1e-3, 79: 1e-3, 80: 1e-4, 119: 1e-4, 120: 1e-5, 159: 1e-5, 160: 1e-6,
              209: 1e-6}
  for step, lr in expected.items():
    np.testing.assert_allclose(float(schedule(step)), lr, rtol=1e-6, err_msg=f'step {step}')


def test_schedule_rejects_empty_epochs():
  with pytest.raises(ValueError, match='steps_per_epoch'):
    optim.learning_rate_schedule(posetrack17.get_config().optim, steps_per_epoch=0)


def test_labels_freeze_only_the_backbone():
  tree = {'model': {'backbone': {'conv1': {'kernel': 0}}, 'agg_final_layer': {'kernel': 0}},
          'critic': {'nce_fused': {'kernel': 0}}}
  frozen = optim.param_labels(tree, frozen=('backbone',))
  assert frozen == {'model': {'backbone': {'conv1': {'kernel': optim.FROZEN}},
                              'agg_final_layer': {'kernel': optim.TRAINABLE}},
                    'critic': {'nce_fused': {'kernel': optim.TRAINABLE}}}
  unfrozen = optim.param_labels(tree, frozen=())
  assert set(jax.tree_util.tree_leaves(unfrozen)) == {optim.TRAINABLE}


def _one_step(config):
  """(state before, state after one jitted step) of the smoke model on a fixed random batch."""
  mesh = sharding.make_mesh(jax.devices()[:1])
  # The trainer's steps per epoch, so that the compiled step is shared with the loop tests.
  train_set = experiment_lib.Experiment(config).dataset('train')
  experiment = experiment_lib.Experiment(
      config, experiment_lib.steps_per_epoch(config, len(train_set)))
  state = experiment.init_state(mesh)
  before = jax.device_get(state)
  rng = np.random.default_rng(0)
  width, height = config.model.image_size
  b, n = config.batch_size, len(config.data.supporting_offsets)
  batch = {'key_image': rng.integers(0, 256, (b, height, width, 3), np.uint8),
           'supporting_images': rng.integers(0, 256, (b, n, height, width, 3), np.uint8),
           'heatmap': rng.random((b, height // 4, width // 4, 17)).astype(np.float32),
           'target_weight': np.ones((b, 17), np.float32)}
  state, metrics = experiment.train_step(mesh)(state, sharding.put_batch(batch, mesh))
  return before, jax.device_get(state), jax.device_get(metrics)


def _changed(a, b):
  return [not np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                    jax.tree_util.tree_leaves(b))]


@pytest.mark.parametrize('bn_batch_stats', [True, False])
def test_frozen_backbone_and_bn_quirk(compile_cache, tiny_dataset, bn_batch_stats):
  config = smoke_config(tiny_dataset, **{'model.backbone_bn_batch_stats': bn_batch_stats})
  before, after, metrics = _one_step(config)
  # The frozen backbone's parameters are bitwise unchanged; the additions train. (Deep in the
  # additions, gradients through the N(0, 0.001) convolutions are below Adam's eps at the first
  # step, so only the modules near the loss are certain to move already.)
  assert not any(_changed(before.params['model']['backbone'], after.params['model']['backbone']))
  model_before, model_after = before.params['model'], after.params['model']
  assert all(_changed(model_before['agg_final_layer'], model_after['agg_final_layer']))
  assert sum(_changed(model_before['init_feature_agg_block'],
                      model_after['init_feature_agg_block'])) >= 4
  # The published quirk: backbone running statistics move only when the flag is on.
  stats_changed = _changed(before.batch_stats['backbone'], after.batch_stats['backbone'])
  assert all(stats_changed) if bn_batch_stats else not any(stats_changed)
  assert int(after.step) == 1
  assert np.isfinite(metrics['loss']) and metrics['grad_norm'] > 0
  np.testing.assert_allclose(metrics['learning_rate'], 1e-3, rtol=1e-6)
  np.testing.assert_allclose(metrics['loss'], metrics['task_loss'] + metrics['mi_loss'],
                             rtol=1e-5)
  assert sorted(k for k in metrics if k.startswith('mi/')) == [f'mi/mi_{i}' for i in range(1, 7)]
