"""FAMI-Pose network: published parameter counts, outputs, wiring, switches and initialisation.

The tiny network keeps every published component (an HRNet with all four stages, the global
transformation, the four DCN stages) at widths of a few channels; full-size structure is checked
with jax.eval_shape. Compilation dominates the run time, hence an RBG init key (with threefry,
compiling `init` alone takes about a minute on CPU) and XLA's quick-compile option.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import posetrack17
from famipose_jax.config import backbone_presets
from famipose_jax import models
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import inputs as model_inputs
from famipose_jax.models.famipose import family as famipose_family
from famipose_jax.models import blocks
from famipose_jax.models.famipose import global_transformation
from famipose_jax.heads import simcc as simcc_head
from famipose_jax.models.famipose import local_calibration

INIT_KEY = jax.random.key(0, impl='unsafe_rbg')
B, N = 2, 2
# XLA's CPU backend optimisations triple the compile time that dominates these tests.
_FAST_COMPILE = {'xla_backend_optimization_level': 0}


def compiled(fn, *args):
  """fn jitted and compiled for these arguments, with the quick-compile options."""
  return jax.jit(fn).lower(*args).compile(compiler_options=_FAST_COMPILE)


def tiny_backbone() -> ml_collections.ConfigDict:
  """hrnet_tiny with two branches in stages 3 and 4: few layers, so quick to compile.

  The full branch structure is pinned by test_models_hrnet.py and the W48 tests below.
  """
  spec = backbone_presets.hrnet_tiny()
  for stage in (spec.stage3, spec.stage4):
    stage.num_channels = spec.stage2.num_channels
    stage.num_blocks = spec.stage2.num_blocks
  return spec


def tiny_config(temporal: bool = True, **overrides) -> ml_collections.ConfigDict:
  """The PoseTrack17 model section with a tiny HRNet (width 8, 64x32 input, 16x8 maps);
  FAMI-Pose's own fields go to its section, temporal=False is the single-frame family."""
  config = posetrack17.get_config().model
  config.backbone = tiny_backbone()
  config.image_size = (32, 64)            # (W, H)
  config.heatmap_size = (8, 16)
  config.num_joints = 5
  own = config.famipose
  own.gtm_channels = 4
  own.gtm_num_downsamples = 2             # 16x8 -> 8x4 -> 4x2
  own.gtm_hidden_features = (8, 8)
  own.dcn_offset_groups = 2
  for name, value in overrides.items():
    (own if name in _FAMIPOSE_FIELDS else config)[name] = value
  return config if temporal else config_defaults.with_family(config, 'single_frame')


_FAMIPOSE_FIELDS = set(famipose_family.section())


def _count(tree) -> int:
  return sum(x.size for x in jax.tree_util.tree_leaves(tree))


def _images(num_supporting=N, seed=1):
  key_rng, sup_rng = jax.random.split(jax.random.key(seed))
  key = jax.random.normal(key_rng, (B, 64, 32, 3))
  sup = jax.random.normal(sup_rng, (B, num_supporting, 64, 32, 3))
  return key, sup


def _shapes(config, num_supporting=N, batch=1):
  model = models.build_model(config)
  example = model_inputs.example_inputs(config, batch, num_supporting)
  variables = jax.eval_shape(model.init, INIT_KEY, *example)
  return variables, jax.eval_shape(model.apply, variables, *example)


# ---- the published W48 384x288 network (shapes only) ----

@pytest.fixture(scope='module')
def w48():
  return _shapes(posetrack17.get_config().model, num_supporting=4)


def test_w48_parameter_counts_equal_the_published_ones(w48):
  params = w48[0]['params']
  groups = {
      'feat_global_offset_layers': 35_410, 'combined_feat_layers': 67_104,
      'dcn_offset': 374_112, 'dcn_mask': 187_056, 'sup_agg_block': 154_848,
      'init_feature_agg_block': 150_432, 'agg_final_layer': 7_361}
  for prefix, expected in groups.items():
    assert sum(_count(v) for k, v in params.items() if k.startswith(prefix)) == expected, prefix
  assert sum(_count(params[f'dcn_{i}']) for i in range(1, 5)) == 83_136
  assert _count(params['backbone']) == 63_595_745
  assert _count(params) - _count(params['backbone']) == 1_059_459
  assert sorted(k for k in params if k.startswith('feat_global')) == [
      f'feat_global_offset_layers_{i}' for i in (0, 1, 2, 3, 4, 5, 7, 8, 9)]
  assert params['dcn_offset_1']['conv']['kernel'].shape == (3, 3, 48, 216)
  assert params['dcn_mask_4']['conv']['kernel'].shape == (3, 3, 48, 108)
  assert params['dcn_3']['kernel'].shape == (3, 3, 48, 48)
  assert params['feat_global_offset_layers_7']['kernel'].shape == (144, 64)
  assert params['sup_agg_block']['layers_0']['downsample_0']['kernel'].shape == (1, 1, 192, 48)
  assert set(w48[0]['batch_stats']) == {'backbone', 'feat_global_offset_layers_0',
                                        *(f'feat_global_offset_layers_{i}' for i in range(1, 6)),
                                        'sup_agg_block', 'combined_feat_layers',
                                        'init_feature_agg_block'}


def test_w48_output_shapes(w48):
  out = w48[1]
  maps, feats = (1, 96, 72, 17), (1, 96, 72, 48)
  assert {k: v.shape for k, v in out.items()} == {
      'heatmaps': maps, 'backbone_heatmaps': maps, 'decoded_key': maps, 'decoded_fused': maps,
      'decoded_support': maps, 'key_features': feats, 'aggregated_support': feats,
      'calibrated_key': feats, 'calibrated_support': feats, 'fused_features': feats,
      'supporting_features': (1, 4) + feats[1:], 'warped_support': (1, 4) + feats[1:],
      'global_params': (1, 4, 2)}
  assert all(v.dtype == jnp.float32 for v in out.values())


# ---- shapes and structure of the switches (shapes only) ----

@pytest.mark.parametrize('num_supporting', [1, 2, 4])
def test_any_number_of_supporting_frames(num_supporting):
  variables, out = _shapes(tiny_config(), num_supporting, batch=B)
  assert out['supporting_features'].shape == (B, num_supporting, 16, 8, 8)
  assert out['warped_support'].shape == (B, num_supporting, 16, 8, 8)
  assert out['global_params'].shape == (B, num_supporting, 2)
  assert out['heatmaps'].shape == (B, 16, 8, 5)
  first = variables['params']['sup_agg_block']['layers_0']
  assert first['conv1']['kernel'].shape == (3, 3, 8 * num_supporting, 8)
  assert first['downsample_0']['kernel'].shape == (1, 1, 8 * num_supporting, 8)


@pytest.mark.parametrize('temporal', [True, False])
def test_simcc_head(temporal):
  variables, out = _shapes(tiny_config(head='simcc', temporal=temporal), batch=B)
  assert out['simcc_x'].shape == (B, 5, 64)        # round(32 * 2)
  assert out['simcc_y'].shape == (B, 5, 128)       # round(64 * 2)
  assert out['heatmaps'].shape == (B, 16, 8, 5)
  assert variables['params']['mlp_head_x']['kernel'].shape == (16 * 8, 64)
  assert variables['params']['mlp_head_y']['kernel'].shape == (16 * 8, 128)
  assert simcc_head.simcc_bins((288, 384), 2.0) == (576, 768)
  assert simcc_head.simcc_bins((30, 50), 1.5) == (45, 75)


def test_ablations_remove_their_modules_and_outputs():
  variables, out = _shapes(tiny_config(global_transform='none', local_calibration=False))
  params = set(variables['params'])
  assert params == {'backbone', 'sup_agg_block', 'init_feature_agg_block', 'agg_final_layer'}
  assert 'global_params' not in out and 'calibrated_key' not in out
  variables, out = _shapes(tiny_config(global_transform='affine'))
  assert out['global_params'].shape == (1, N, 2, 3)
  assert variables['params']['feat_global_offset_layers_6']['kernel'].shape == (8, 6)
  variables, out = _shapes(tiny_config(temporal=False))
  assert set(variables['params']) == {'backbone'}
  assert set(out) == {'heatmaps', 'backbone_heatmaps', 'key_features', 'decoded_key'}


def test_bfloat16_computes_in_bfloat16_with_float32_params_and_outputs():
  config = tiny_config(dtype='bfloat16')
  variables, out = _shapes(config)
  assert {x.dtype for x in jax.tree_util.tree_leaves(variables)} == {jnp.dtype(jnp.float32)}
  assert {x.dtype for x in out.values()} == {jnp.dtype(jnp.float32)}
  model = models.build_model(config)
  jaxpr = jax.make_jaxpr(model.apply)(variables, *model_inputs.example_inputs(config, 1, N))
  conv_inputs = [eqn.invars[0].aval.dtype for eqn in _all_eqns(jaxpr.jaxpr)
                 if eqn.primitive.name == 'conv_general_dilated']
  assert len(conv_inputs) > 50 and set(conv_inputs) == {jnp.dtype(jnp.bfloat16)}


def _all_eqns(jaxpr):
  """Every equation of a jaxpr, including those of nested (jit, custom_jvp, ...) jaxprs."""
  for eqn in jaxpr.eqns:
    yield eqn
    for param in eqn.params.values():
      for inner in (param if isinstance(param, (tuple, list)) else (param,)):
        inner = getattr(inner, 'jaxpr', inner)          # ClosedJaxpr -> Jaxpr
        if hasattr(inner, 'eqns'):
          yield from _all_eqns(inner)


def test_bad_configs_and_inputs_are_refused():
  with pytest.raises(ValueError, match='model.dtype'):
    models.build_model(tiny_config(dtype='float16'))
  with pytest.raises(ValueError, match='model.heatmap_size'):
    models.build_model(tiny_config(heatmap_size=(8, 8)))
  with pytest.raises(ValueError, match='model.famipose.global_transform'):
    models.build_model(tiny_config(global_transform='homography'))
  with pytest.raises(ValueError, match='model.famipose.dcn_offset_groups'):
    models.build_model(tiny_config(dcn_offset_groups=3))
  model = models.build_model(tiny_config())
  key, sup = model_inputs.example_inputs(tiny_config(), 1, N)
  with pytest.raises(ValueError, match='supporting_images is required'):
    jax.eval_shape(model.init, INIT_KEY, key, None)
  with pytest.raises(ValueError, match='key_image must be'):
    jax.eval_shape(model.init, INIT_KEY, key[:, :32], sup)
  with pytest.raises(ValueError, match='supporting_images must be'):
    jax.eval_shape(model.init, INIT_KEY, key, sup[:, :0])


# ---- the tiny network, run ----

def order_one(variables, seed=0):
  """Random weights and BN statistics of order one (the published init makes features ~1e-10)."""
  rng = np.random.default_rng(seed)
  def fill(path, x):
    name = path[-1].key
    if name == 'kernel':
      value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(x.shape[:-1])), x.shape)
    elif name in ('scale', 'var'):
      value = rng.uniform(0.5, 1.5, x.shape)
    else:   # bias, mean
      value = rng.normal(0.0, 0.1, x.shape)
    return jnp.asarray(value, jnp.float32)
  return jax.tree_util.tree_map_with_path(fill, variables)


@pytest.fixture(scope='module')
def tiny():
  """(model, order-one variables, compiled eval apply, key [B,H,W,3], support [B,N,H,W,3])."""
  model = models.build_model(tiny_config())
  key, sup = _images()
  variables = order_one(jax.eval_shape(model.init, INIT_KEY, key, sup))
  apply = compiled(functools.partial(model.apply, train=False), variables, key, sup)
  return model, variables, apply, key, sup


def test_init_follows_the_published_scheme():
  model = models.build_model(tiny_config())
  images = _images()
  variables = compiled(model.init, INIT_KEY, *images)(INIT_KEY, *images)
  params = variables['params']
  flat = jax.tree_util.tree_flatten_with_path(params)[0]
  def path(p):
    return '/'.join(k.key for k in p)
  uniform = ('feat_global_offset_layers_4', 'feat_global_offset_layers_5',
             'feat_global_offset_layers_6', 'dcn_1', 'dcn_2', 'dcn_3', 'dcn_4')
  conv_kernels = np.concatenate([np.ravel(v) for p, v in flat
                                 if p[-1].key == 'kernel' and not path(p).startswith(uniform)])
  assert conv_kernels.size > 50_000
  assert abs(conv_kernels.std() - 0.001) < 0.00002 and abs(conv_kernels.mean()) < 0.00002
  for p, v in flat:
    if p[-1].key == 'bias':
      np.testing.assert_array_equal(v, 0, err_msg=path(p))
    if p[-1].key == 'scale':
      np.testing.assert_array_equal(v, 1, err_msg=path(p))
  # Linear and deformable-conv weights keep PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  for name, fan_in in [('feat_global_offset_layers_4', 4 * 4 * 2),
                       ('feat_global_offset_layers_5', 8),
                       ('feat_global_offset_layers_6', 8), ('dcn_1', 9 * 8), ('dcn_4', 9 * 8)]:
    kernel = np.asarray(params[name]['kernel'])
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.8 * bound, name
  np.testing.assert_array_equal(variables['batch_stats']['backbone']['bn1']['var'], 1)


def test_frames_share_one_backbone_pass_in_published_order(tiny):
  model, variables, apply, key, sup = tiny
  out = apply(variables, key, sup)
  # Eval-mode features depend on the frame alone, so swapping the key with the last
  # supporting frame must swap exactly those features.
  swapped = apply(variables, sup[:, -1], jnp.concatenate([sup[:, :-1], key[:, None]], axis=1))
  close = functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6)
  close(swapped['key_features'], out['supporting_features'][:, -1])
  close(swapped['supporting_features'][:, -1], out['key_features'])
  close(swapped['supporting_features'][:, 0], out['supporting_features'][:, 0])
  assert np.abs(out['key_features'] - out['supporting_features'][:, 0]).max() > 0.1
  np.testing.assert_array_equal(out['decoded_key'], out['backbone_heatmaps'])
  assert np.abs(out['global_params']).max() > 0.1   # order-one weights really move the support


def test_support_aggregation_decoding_and_head_wiring(tiny):
  model, variables, apply, key, sup = tiny
  out = apply(variables, key, sup)
  params, stats = variables['params'], variables['batch_stats']
  stacked = jnp.concatenate([out['warped_support'][:, i] for i in range(N)], axis=-1)
  aggregated = blocks.ChainOfBasicBlocks(8, 2, blocks.LayerOptions()).apply(
      {'params': params['sup_agg_block'], 'batch_stats': stats['sup_agg_block']}, stacked,
      train=False)
  np.testing.assert_allclose(out['aggregated_support'], aggregated, rtol=1e-4, atol=1e-5)
  backbone = model.bind(variables).backbone
  decoded = backbone.decode(jnp.asarray(out['fused_features']))
  np.testing.assert_allclose(out['decoded_fused'], decoded, rtol=1e-4, atol=1e-5)
  heatmaps = jax.lax.conv_general_dilated(
      jnp.asarray(out['fused_features']), params['agg_final_layer']['kernel'], (1, 1),
      ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(out['heatmaps'], heatmaps + params['agg_final_layer']['bias'],
                             rtol=1e-4, atol=1e-5)


def test_frozen_backbone_gets_no_gradient_and_bn_quirk_updates_statistics(tiny):
  model, variables, _, key, sup = tiny
  def loss_fn(params):
    out, updates = model.apply({'params': params, 'batch_stats': variables['batch_stats']},
                               key, sup, train=True, mutable=['batch_stats'])
    return jnp.mean(jnp.square(out['heatmaps'] - 1.0)), updates
  grad_fn = jax.grad(loss_fn, has_aux=True)
  grads, updates = compiled(grad_fn, variables['params'])(variables['params'])
  assert all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(grads['backbone']))
  for name, subtree in grads.items():
    if name != 'backbone':
      assert max(float(jnp.abs(g).max()) for g in jax.tree_util.tree_leaves(subtree)) > 0, name
  # Published quirk (the default): the frozen backbone's BN still tracks batch statistics.
  before, after = variables['batch_stats'], updates['batch_stats']
  for path in (('backbone', 'bn1'), ('backbone', 'stage4_0', 'fuse_layers_0_1_1'),
               ('sup_agg_block', 'layers_0', 'bn1'), ('feat_global_offset_layers_2', 'bn')):
    old, new = functools.reduce(lambda t, k: t[k], path, before), functools.reduce(
        lambda t, k: t[k], path, after)
    assert np.abs(np.asarray(new['mean']) - old['mean']).min() > 0, path
    assert np.abs(np.asarray(new['var']) - old['var']).min() > 0, path


def test_single_frame_baseline_and_running_statistics_without_the_quirk(tiny):
  _, variables, _, key, _ = tiny
  backbone_only = {c: {'backbone': variables[c]['backbone']} for c in ('params', 'batch_stats')}
  model = models.build_model(tiny_config(temporal=False, backbone_bn_batch_stats=False))
  def train_apply(v, k):
    return model.apply(v, k, train=True, mutable=['batch_stats'])
  out, updates = compiled(train_apply, backbone_only, key)(backbone_only, key)
  np.testing.assert_array_equal(out['heatmaps'], out['backbone_heatmaps'])
  assert set(out) == {'heatmaps', 'backbone_heatmaps', 'key_features', 'decoded_key'}
  jax.tree_util.tree_map(np.testing.assert_array_equal, updates['batch_stats'],
                         backbone_only['batch_stats'])


def test_ablated_network_passes_support_through(tiny):
  _, variables, _, key, sup = tiny
  keep = ('backbone', 'sup_agg_block', 'init_feature_agg_block', 'agg_final_layer')
  ablated = {c: {k: v for k, v in variables[c].items() if k in keep}
             for c in ('params', 'batch_stats')}
  model = models.build_model(tiny_config(global_transform='none', local_calibration=False))
  out = compiled(model.apply, ablated, key, sup)(ablated, key, sup)
  np.testing.assert_array_equal(out['warped_support'], out['supporting_features'])
  np.testing.assert_array_equal(out['calibrated_support'], out['aggregated_support'])


# ---- global transformation (key [2, 9, 5, 6], two supporting frames) ----

GTM_KEY = jax.random.normal(jax.random.key(10), (2, 9, 5, 6))
GTM_SUPPORT = jax.random.normal(jax.random.key(11), (2, 2, 9, 5, 6))


@functools.lru_cache(maxsize=None)
def _gtm(mode='translation', align_corners=True):
  """(module, compiled train-mode apply) with the published init."""
  gtm = global_transformation.GlobalTransformation(
      mode, channels=4, num_downsamples=2, hidden_features=(8, 8), align_corners=align_corners,
      opts=blocks.LayerOptions())
  variables = compiled(functools.partial(gtm.init, train=False), INIT_KEY, GTM_KEY, GTM_SUPPORT)(
      INIT_KEY, GTM_KEY, GTM_SUPPORT)
  apply = compiled(functools.partial(gtm.apply, train=True, mutable=['batch_stats']),
                   variables, GTM_KEY, GTM_SUPPORT)
  return variables, apply


def _with_output_layer(variables, kernel_value, bias):
  params = jax.tree_util.tree_map(lambda x: x, variables['params'])
  last = params['feat_global_offset_layers_6']
  last['kernel'] = jnp.full_like(last['kernel'], kernel_value)
  last['bias'] = jnp.asarray(bias, jnp.float32)
  return {'params': params, 'batch_stats': variables['batch_stats']}


@pytest.mark.parametrize('align_corners', [True, False])
def test_zero_difference_or_zero_linear_gives_the_identity_warp(align_corners):
  variables, apply = _gtm(align_corners=align_corners)
  support = GTM_SUPPORT.at[:, 0].set(GTM_KEY)       # frame 0 equals the key frame
  (params, warped), _ = apply(variables, GTM_KEY, support)
  np.testing.assert_array_equal(params[:, 0], 0.0)
  assert np.all(np.abs(np.asarray(params[:, 1])) > 0)
  tol = 0 if align_corners else 1e-5
  np.testing.assert_allclose(warped[:, 0], support[:, 0], atol=tol, rtol=0)
  (params, warped), _ = apply(_with_output_layer(variables, 0.0, [0.0, 0.0]), GTM_KEY, GTM_SUPPORT)
  np.testing.assert_array_equal(params, 0.0)
  np.testing.assert_allclose(warped, GTM_SUPPORT, atol=tol, rtol=0)


@pytest.mark.parametrize('align_corners, translation, shift', [
    (True, (2.0, 1.0), (2, 1)),
    (False, (0.8, 8 / 9), (1, 1)),     # kornia < 0.5 stretches t by n / (n - 1): 5 / 4 and 9 / 8
])
def test_translation_moves_content_by_plus_t(align_corners, translation, shift):
  variables, apply = _gtm(align_corners=align_corners)
  variables = _with_output_layer(variables, 0.0, translation)
  (params, warped), _ = apply(variables, GTM_KEY, GTM_SUPPORT)
  np.testing.assert_allclose(params, np.broadcast_to(translation, (2, 2, 2)), rtol=1e-6)
  sx, sy = shift
  expected = np.zeros_like(GTM_SUPPORT)
  expected[:, :, sy:, sx:] = np.asarray(GTM_SUPPORT[:, :, :-sy, :-sx])
  np.testing.assert_allclose(warped, expected, atol=1e-5)


def test_affine_mode_starts_at_the_identity():
  variables, apply = _gtm('affine')
  last = variables['params']['feat_global_offset_layers_6']
  np.testing.assert_array_equal(last['kernel'], 0.0)
  np.testing.assert_array_equal(last['bias'], [1, 0, 0, 0, 1, 0])
  (params, warped), _ = apply(variables, GTM_KEY, GTM_SUPPORT)
  np.testing.assert_array_equal(params, np.broadcast_to(np.eye(3)[:2], (2, 2, 2, 3)))
  np.testing.assert_array_equal(warped, GTM_SUPPORT)


def test_each_supporting_frame_updates_the_statistics_in_turn():
  variables, apply = _gtm()
  support = jnp.stack([GTM_SUPPORT[:, 0]] * 2, axis=1)   # the same frame twice
  _, updates = apply(variables, GTM_KEY, support)
  bn = updates['batch_stats']['feat_global_offset_layers_0']['layers_0']['bn1']
  block = variables['params']['feat_global_offset_layers_0']['layers_0']
  x = jax.lax.conv_general_dilated(support[:, 0] - GTM_KEY, block['conv1']['kernel'], (1, 1),
                                   ((1, 1), (1, 1)), dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  count = x.shape[0] * x.shape[1] * x.shape[2]
  mean = np.asarray(x).mean(axis=(0, 1, 2))
  unbiased = np.asarray(x).var(axis=(0, 1, 2)) * count / (count - 1)
  # Two sequential updates with the same batch move 1 - 0.9^2 = 0.19 of the way (one
  # batched update over both frames would move 0.1).
  np.testing.assert_allclose(bn['mean'], 0.19 * mean, rtol=1e-4, atol=1e-12)
  np.testing.assert_allclose(bn['var'], 0.81 + 0.19 * unbiased, rtol=1e-6)
  assert np.abs(0.19 * unbiased).min() > 1e-7


# ---- local calibration ----

@pytest.mark.parametrize('activation', ['none', 'sigmoid'])
def test_local_calibration_wiring_with_zero_offsets(activation):
  lcm = local_calibration.LocalCalibration(
      combine_blocks=1, kernel_size=3, dilation=3, offset_groups=2, mask_activation=activation,
      opts=blocks.LayerOptions())
  support = jax.random.normal(jax.random.key(6), (1, 8, 7, 4))
  key = jax.random.normal(jax.random.key(7), (1, 8, 7, 4))
  variables = order_one(jax.eval_shape(functools.partial(lcm.init, train=False), INIT_KEY,
                                       support, key))
  params = variables['params']
  raw_mask = 0.7
  for i in range(1, 5):
    params[f'dcn_offset_{i}']['conv'] = jax.tree_util.tree_map(
        jnp.zeros_like, params[f'dcn_offset_{i}']['conv'])
    params[f'dcn_mask_{i}']['conv']['kernel'] = jnp.zeros_like(
        params[f'dcn_mask_{i}']['conv']['kernel'])
    params[f'dcn_mask_{i}']['conv']['bias'] = jnp.full((18,), raw_mask)
  apply = functools.partial(lcm.apply, train=False)
  calibrated_key, calibrated_support = compiled(apply, variables, support, key)(
      variables, support, key)

  # With zero offsets each DCN is a dilated conv whose taps are all scaled by the mask.
  mask = raw_mask if activation == 'none' else 1 / (1 + np.exp(-raw_mask))
  def dcn(i, x):
    y = jax.lax.conv_general_dilated(x, params[f'dcn_{i}']['kernel'], (1, 1), ((3, 3), (3, 3)),
                                     rhs_dilation=(3, 3),
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return mask * y + params[f'dcn_{i}']['bias']
  combined = blocks.ChainOfBasicBlocks(4, 1, blocks.LayerOptions()).apply(
      {'params': params['combined_feat_layers'],
       'batch_stats': variables['batch_stats']['combined_feat_layers']},
      jnp.concatenate([support, key], axis=-1), train=False)
  np.testing.assert_allclose(calibrated_key, dcn(2, dcn(1, combined)), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(calibrated_support, dcn(4, dcn(3, support)), rtol=1e-4, atol=1e-5)
