"""HRNet backbone: published parameter counts, PyTorch key structure, shapes.

Initialisation statistics are checked on the whole tiny network in test_models_famipose.py.
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from famipose_jax.config import backbone_presets
from famipose_jax.models import blocks
from famipose_jax.models import hrnet


def _hrnet(spec, num_joints=17):
  return hrnet.HRNet(ml_collections.FrozenConfigDict(spec), num_joints, blocks.LayerOptions())


def _shapes(spec, height, width, num_joints=17):
  model = _hrnet(spec, num_joints)
  return jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0),
                        jnp.zeros((1, height, width, 3)))


def _count(tree):
  return sum(x.size for x in jax.tree_util.tree_leaves(tree))


@pytest.fixture(scope='module')
def w48():
  return _shapes(backbone_presets.hrnet(48), 384, 288)


def test_published_parameter_counts(w48):
  assert _count(w48['params']) == 63_595_745           # HRNet-W48 with final_layer, as published
  assert _count(w48['batch_stats']) == 2 * 39_792       # running mean and var of every BN channel
  assert _count(_shapes(backbone_presets.hrnet(32), 256, 192)['params']) == 28_536_113


def test_pytorch_key_structure(w48):
  params = w48['params']
  assert set(params) == {
      'conv1', 'bn1', 'conv2', 'bn2', *(f'layer1_{i}' for i in range(4)),
      'transition1_0_0', 'transition1_0_1', 'transition1_1_0_0', 'transition1_1_0_1',
      'transition2_2_0_0', 'transition2_2_0_1', 'transition3_3_0_0', 'transition3_3_0_1',
      'stage2_0', *(f'stage3_{i}' for i in range(4)), *(f'stage4_{i}' for i in range(3)),
      'final_layer'}
  assert set(params['layer1_0']) == {'conv1', 'bn1', 'conv2', 'bn2', 'conv3', 'bn3',
                                     'downsample_0', 'downsample_1'}
  assert 'downsample_0' not in params['layer1_1']
  assert set(params['stage2_0']) == {
      *(f'branches_{b}_{k}' for b in range(2) for k in range(4)),
      'fuse_layers_0_1_0', 'fuse_layers_0_1_1', 'fuse_layers_1_0_0_0', 'fuse_layers_1_0_0_1'}
  # Down-path chains: stage3 fuse 2 <- 0 has two stride-2 convs, widths 48 -> 48 -> 192.
  assert params['stage3_0']['fuse_layers_2_0_0_0']['kernel'].shape == (3, 3, 48, 48)
  assert params['stage3_0']['fuse_layers_2_0_1_0']['kernel'].shape == (3, 3, 48, 192)
  assert params['stage3_0']['fuse_layers_0_2_0']['kernel'].shape == (1, 1, 192, 48)
  # The last stage-4 module fuses into the highest-resolution branch only.
  last = params['stage4_2']
  assert {k for k in last if k.startswith('fuse')} == {
      'fuse_layers_0_1_0', 'fuse_layers_0_1_1', 'fuse_layers_0_2_0', 'fuse_layers_0_2_1',
      'fuse_layers_0_3_0', 'fuse_layers_0_3_1'}
  assert len([k for k in last if k.startswith('branches')]) == 16
  assert 'fuse_layers_3_0_2_0' in params['stage4_1']
  assert params['final_layer']['kernel'].shape == (1, 1, 48, 17)
  assert params['final_layer']['bias'].shape == (17,)
  assert set(w48['batch_stats']['bn1']) == {'mean', 'var'}
  assert set(params['bn1']) == {'scale', 'bias'}
  assert 'bias' not in params['conv1']


def test_nearest_upsample():
  x = jnp.arange(4.0).reshape(1, 2, 2, 1)
  y = blocks.nearest_upsample(x, 2)[0, :, :, 0]
  np.testing.assert_array_equal(y, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])


def test_tiny_shapes():
  shapes = _shapes(backbone_presets.hrnet_tiny(), 64, 32, num_joints=5)
  model = _hrnet(backbone_presets.hrnet_tiny(), num_joints=5)
  heatmaps, features = jax.eval_shape(functools.partial(model.apply, train=False), shapes,
                                      jnp.zeros((2, 64, 32, 3)))
  assert heatmaps.shape == (2, 16, 8, 5)
  assert features.shape == (2, 16, 8, 8)
  assert _count(shapes['params']) == 175_389


def test_input_size_must_fit_the_branches():
  model = _hrnet(backbone_presets.hrnet_tiny(), num_joints=5)
  with pytest.raises(ValueError, match='multiples of 32'):
    model.init(jax.random.key(0), jnp.zeros((1, 48, 32, 3)), train=False)
