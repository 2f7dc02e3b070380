"""TDMI: full-size structure, the frames it differences, its config rules, gradients, training.

Full-size shapes and counts by jax.eval_shape (nothing is computed). TDMI released no model, so
the counts are this reconstruction's at the defaults of docs/tdmi.md (HRNet-W48, 384x288).
"""

import json
import math
import os
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import synthetic_tdmi
from configs import tdmi_posetrack17
from data_pipeline import clip_frames
from data_pipeline.errors import ConfigError
from famipose_jax import experiment as experiment_lib
from famipose_jax import models
from famipose_jax.config import schema as config_schema
from famipose_jax.models import backbone_pass
from famipose_jax.models import inputs as model_inputs
from famipose_jax.models.tdmi import difference_encoder
from famipose_jax.models.tdmi import ablations as tdmi_ablations
from famipose_jax.models.tdmi import network
from famipose_jax.train import loop as trainer
from tests import model_shapes
from tests.train_support import smoke_config


@pytest.fixture(scope='module')
def w48():
  """(config, variable shapes, output shapes) of the default TDMI, one clip of 5 frames."""
  config = tdmi_posetrack17.get_config()
  return (config, *model_shapes.shapes(config))


def test_parameter_counts(w48):
  config, variables, _ = w48
  params = variables['params']
  assert model_shapes.count(params) == 65_442_770
  assert model_shapes.count(params['backbone']) == 63_595_745          # HRNet-W48, as every family's
  trainable = model_shapes.trainable_count(config, params)
  assert trainable == 1_847_025
  encoder = params['encoder']
  # 4 differences x 48 channels -> 48: two BasicBlocks, the first with its projection.
  assert model_shapes.count(encoder['motion_fusion_s1']) == 113_184 + 41_664   # 192->48 (+1x1), 48->48
  dcn = encoder['m_a_dcn_s2']
  assert dcn['offset']['kernel'].shape == (3, 3, 48, 216)    # 12 groups x 2 x 3 x 3
  assert dcn['mask']['kernel'].shape == (3, 3, 48, 108)
  assert dcn['guide']['layers_0']['conv1']['kernel'].shape == (3, 3, 96, 48)
  assert dcn['dcn']['kernel'].shape == (3, 3, 48, 48)
  assert sorted(encoder) == ['m_a_dcn_s1', 'm_a_dcn_s2', 'm_a_dcn_s3', 'm_a_dcn_s4',
                             'motion_fusion_s1', 'motion_fusion_s2', 'motion_fusion_s3',
                             'motion_fusion_s4', 'smooth_s2', 'smooth_s3', 'smooth_s4']
  gate = params['disentanglement']['useful_gate']
  assert gate['hidden']['kernel'].shape == (48, 128) and gate['out']['kernel'].shape == (128, 48)
  assert params['final_layer']['kernel'].shape == (3, 3, 48, 17)


def test_outputs(w48):
  _, _, out = w48
  assert out['heatmaps'].shape == (1, 96, 72, 17)
  for name in ('motion_features', 'useful_motion', 'noisy_motion', 'fused_features',
               'key_features', 'stage_motion_1', 'stage_deformed_4'):
    assert out[name].shape == (1, 96, 72, 48), name
  assert out['useful_gate'].shape == out['noisy_gate'].shape == (1, 1, 1, 48)
  assert all(v.dtype == jnp.float32 for v in out.values())


def test_the_clip_is_five_frames_with_fami_poses_padding():
  config = tdmi_posetrack17.get_config()
  assert model_inputs.clip_of(config) == clip_frames.ClipSpec((-2, -1, 1, 2), 'published')
  config.model.tdmi.supporting_offsets = (-1, 1)
  assert model_inputs.clip_of(config).offsets == (-1, 1)


def test_frames_are_put_in_time_order():
  assert network.time_order((-2, -1, 1, 2)) == ((1, 2, 0, 3, 4), 2)
  assert network.time_order((1, -1)) == ((2, 0, 1), 1)
  assert network.time_order((3,)) == ((0, 1), 0)


def test_frame_differences():
  frames = [jnp.full((1, 1, 1, 1), v, jnp.float32) for v in (1.0, 3.0, 7.0, 15.0)]
  adjacent = difference_encoder.frame_differences(frames, 1, 'adjacent')
  assert adjacent.reshape(-1).tolist() == [2.0, 4.0, 8.0]
  to_key = difference_encoder.frame_differences(frames, 1, 'key')
  assert to_key.reshape(-1).tolist() == [2.0, 4.0, 12.0]   # later minus earlier, time order


def test_stage_features_are_the_highest_resolution_branches():
  config = smoke_config('unused', **{'model.family': 'tdmi'})
  backbone = models.HRNet(ml_collections.FrozenConfigDict(config.model.backbone), 17,
                          backbone_pass.layer_options(config.model))
  x = jax.random.normal(jax.random.key(3), (1, 32, 32, 3))
  variables = backbone.init(jax.random.key(0), x, train=False)
  (heatmaps, features, stages), captured = backbone.apply(
      variables, x, train=False, stage_features=True, capture_intermediates=True)
  assert [s.shape for s in stages] == [(1, 8, 8, 4)] * 4
  inner = captured['intermediates']
  # transition1's branch 0 (conv + BN + ReLU of layer1's output), then branch 0 of the last
  # module of stages 2 and 3; stage 4's is the backbone's feature.
  transition = jax.nn.relu(inner['transition1_0_1']['__call__'][0])
  np.testing.assert_allclose(stages[0], transition, rtol=0, atol=0)
  np.testing.assert_array_equal(stages[1], inner['stage2_0']['__call__'][0][0])
  np.testing.assert_array_equal(stages[2], inner['stage3_0']['__call__'][0][0])
  np.testing.assert_array_equal(stages[3], features)
  assert len({float(jnp.sum(s)) for s in stages}) == 4     # four different tensors
  plain = backbone.apply(variables, x, train=False)
  np.testing.assert_array_equal(plain[0], heatmaps)


def _smoke_tdmi(**overrides):
  return smoke_config('unused', **{'model.family': 'tdmi', **overrides})


def _apply(config, key_image, support, seed=0):
  model = models.build_model(config.model)
  variables = model.init(jax.random.key(seed), key_image, support, train=False)
  return model.apply(variables, key_image, support, train=False)


def test_one_stage_without_a_first_conv_is_its_dcn_output():
  config = _smoke_tdmi(**{'model.tdmi.stages': (2,)})
  out = _apply(config, *_tiny_batch(config))
  np.testing.assert_array_equal(out['motion_features'], out['stage_deformed_2'])


def test_without_dcn_each_stage_passes_its_blocks_output():
  config = _smoke_tdmi(**{'model.tdmi.dcn': False})
  out = _apply(config, *_tiny_batch(config))
  for stage in (1, 2, 3, 4):
    np.testing.assert_array_equal(out[f'stage_deformed_{stage}'], out[f'stage_motion_{stage}'])


def test_the_supporting_frames_order_does_not_matter():
  """Offsets and images permuted together: the same clip, the same output."""
  config = _smoke_tdmi()
  key_image, support = _tiny_batch(config)
  out = _apply(config, key_image, support)
  config.model.tdmi.supporting_offsets = (2, -1, -2, 1)
  shuffled = _apply(config, key_image, support[:, jnp.array([3, 1, 0, 2])])
  np.testing.assert_allclose(shuffled['heatmaps'], out['heatmaps'], rtol=0, atol=1e-6)


@pytest.mark.parametrize('name', [v.name for v in tdmi_ablations.VARIANTS
                                  if v.name != 'single_frame'] + ['bfloat16', 'every_option'])
def test_every_variant_builds_and_runs_its_objective(name):
  if name == 'bfloat16':
    overrides = {'model.dtype': 'bfloat16'}
  elif name == 'every_option':
    overrides = {f'model.tdmi.{k}': v for k, v in dict(
        difference_pairing='key', offset_source='difference', cascade_conv='conv',
        cascade_first_conv=True, rdm_gate_input='pixel', dcn_mask_activation='sigmoid',
        mi='lab_kl').items()}
    overrides['model.head'] = 'simcc'
  else:
    overrides = {k: v for k, v in tdmi_ablations.STUDY.by_name[name].overrides.items()
                 if k != 'model.family'}
  config = _smoke_tdmi(**overrides)
  config_schema.validate_config(config)
  experiment = experiment_lib.Experiment(config)
  example = model_inputs.example_inputs_of(config, 2)
  variables = jax.eval_shape(lambda k: experiment.model.init(k, *example, train=False),
                             jax.random.key(0))
  out = jax.eval_shape(lambda v: experiment.model.apply(v, *example), variables)
  assert out['heatmaps'].shape == (2, 8, 8, 17) and out['heatmaps'].dtype == jnp.float32
  objective = experiment.objective
  assert (objective is None) == (not config.model.tdmi.rdm)
  if objective is not None:
    critic = ({} if objective.critic is None else jax.eval_shape(
        lambda k, o: objective.critic.init(k, o, {}), jax.random.key(1), out)['params'])
    loss, terms = jax.eval_shape(lambda o, c: objective.compute(o, {}, c), out, critic)
    assert loss.shape == () and 'reconstruction' in terms


@pytest.mark.parametrize('field, value, expected', [
    ('supporting_offsets', (-1, 0, 1), 'one or more distinct non-zero integer frame offsets'),
    ('supporting_offsets', (-1.5, 1), 'one or more distinct non-zero integer frame offsets'),
    ('stages', (4, 2), 'increasing backbone stages from 1, 2, 3, 4'),
    ('residual_blocks', (2, 2, 2), 'four integer block counts >= 1 (stages 1-4)'),
    ('residual_blocks', (2.0, 2, 2, 2), 'four integer block counts >= 1 (stages 1-4)'),
    ('dcn_group_channels', 5, 'a divisor of the backbone width 48'),
    ('dcn_dilation', 0, 'an integer >= 1'),
    ('offset_dilation', 0, 'an integer >= 1'),
    ('mi_weight', -1.0, 'a weight >= 0'),
    ('lab_kl_temperature', 0.0, 'a temperature > 0'),
])
def test_bad_fields_name_the_field(field, value, expected):
  config = tdmi_posetrack17.get_config()
  config.model.tdmi[field] = value
  with pytest.raises(ConfigError, match=re.escape(
      f'config.model.tdmi.{field}={value!r}: expected {expected}')):
    config_schema.validate_config(config)


def test_choices_are_checked():
  config = tdmi_posetrack17.get_config()
  config.model.tdmi.mi = 'bogus'
  with pytest.raises(ConfigError, match="model.tdmi.mi='bogus'"):
    config_schema.validate_config(config)


def test_mi_needs_the_rdm():
  config = tdmi_posetrack17.get_config()
  config.model.tdmi.rdm = False
  with pytest.raises(ConfigError, match=r"config.model.tdmi.mi='club': expected 'none' with "
                     r'model.tdmi.rdm=False'):
    config_schema.validate_config(config)
  config.model.tdmi.mi = 'none'
  config_schema.validate_config(config)
  assert experiment_lib.Experiment(config).objective is None


def _tiny_batch(config, b=4):
  rng = np.random.default_rng(0)
  width, height = config.model.image_size
  n = len(config.model.tdmi.supporting_offsets)
  return (jnp.asarray(rng.normal(size=(b, height, width, 3)), jnp.float32),
          jnp.asarray(rng.normal(size=(b, n, height, width, 3)), jnp.float32))


@pytest.mark.parametrize('mi', ['club', 'lab_kl'])
def test_gradient_reaches_every_trainable_module(mi):
  config = smoke_config('unused', **{'model.family': 'tdmi', 'model.tdmi.mi': mi})
  experiment = experiment_lib.Experiment(config)
  model, objective = experiment.model, experiment.objective
  key_image, support = _tiny_batch(config)
  variables = model.init(jax.random.key(0), key_image, support, train=False)
  outputs = model.apply(variables, key_image, support, train=False)
  critic = ({} if objective.critic is None else
            objective.critic.init(jax.random.key(1), outputs, {})['params'])

  def loss(params, critic_params):
    out, _ = model.apply({'params': params, 'batch_stats': variables['batch_stats']},
                         key_image, support, train=True, mutable=['batch_stats'])
    extra, _ = objective.compute(out, {}, critic_params)
    return jnp.mean(out['heatmaps'] ** 2) + extra

  grads, critic_grads = jax.grad(loss, argnums=(0, 1))(variables['params'], critic)
  norms = {'/'.join(str(getattr(k, 'key', k)) for k in path): float(jnp.linalg.norm(g))
           for path, g in jax.tree_util.tree_leaves_with_path(grads)}
  trained = {k: v for k, v in norms.items() if not k.startswith('backbone/')}
  assert len(trained) == 178 and min(trained.values()) > 0, sorted(
      k for k, v in trained.items() if v == 0)
  assert max(v for k, v in norms.items() if k.startswith('backbone/')) == 0   # frozen
  critic_norms = [float(jnp.linalg.norm(g)) for g in jax.tree_util.tree_leaves(critic_grads)]
  assert len(critic_norms) == (8 if mi == 'club' else 0) and all(n > 0 for n in critic_norms)


def test_it_trains_on_the_tiny_data_without_nans(tiny_dataset, compile_cache, tmp_path):
  config = smoke_config(tiny_dataset, **{'model.family': 'tdmi'})
  config.eval_batch_size = 4
  summary = trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert summary.step == summary.total_steps > 0
  with open(os.path.join(str(tmp_path / 'run'), 'metrics.jsonl'), encoding='utf-8') as f:
    records = [json.loads(line) for line in f]
  train = [r for r in records if 'mi/club' in r]
  assert train and all(math.isfinite(r['loss']) and math.isfinite(r['mi/club'])
                       and math.isfinite(r['mi/reconstruction']) for r in train)
  assert '| TDMI ' in summary.evaluation['table']
  assert math.isfinite(summary.evaluation['mAP']['final'])


def test_the_demo_config_is_the_demo_with_tdmi():
  config = synthetic_tdmi.get_config()
  config_schema.validate_config(config)
  assert config.model.family == 'tdmi' and 'famipose' not in config.model
  assert config.model.backbone.stage4.num_channels[0] == 12
  assert model_inputs.clip_of(config).offsets == tuple(config.data.supporting_offsets) == (-1, 1)
