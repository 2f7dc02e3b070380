"""The converter: naming rule both ways on W48, round trip, strictness, prefixes, files."""

import argparse

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from configs import posetrack17  # pylint: disable=g-import-not-at-top
from famipose_jax.config import defaults as config_defaults
from famipose_jax.interop import convert
from famipose_jax.interop import testing
from famipose_jax.interop import torch_reference as tr

N = 2


@pytest.fixture(scope='module')
def tiny():
  """A random tiny reference, its state_dict and the model's variable shapes."""
  config = testing.tiny_config()
  model = testing.random_reference(config, N, seed=1)
  shapes = convert.variable_shapes(config.model, 'famipose', N)
  return config, model, shapes


def _convert(config, state_dict, shapes, **kwargs):
  return convert.state_dict_to_variables(state_dict, config.model, 'famipose', N, shapes=shapes,
                                         **kwargs)


def _assert_same_variables(got, want):
  flat = lambda tree: dict(convert._leaves(tree))  # pylint: disable=protected-access
  got, want = flat(got), flat(want)
  assert got.keys() == want.keys()
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value, err_msg=str(key))


def test_w48_key_table_is_the_published_state_dict():
  """The Flax W48 variables, renamed by the inverted rule, are exactly the published keys."""
  config = posetrack17.get_config()
  with torch.device('meta'):
    reference = tr.FamiPoseReference(config.model, num_supporting=4)
  published = {k: tuple(v.shape) for k, v in reference.state_dict().items()
               if not k.endswith('num_batches_tracked')}
  table = convert.key_table(convert.variable_shapes(config.model, 'famipose', 4))
  assert {e.torch_key: e.torch_shape for e in table} == published
  assert len(table) == 1614
  for entry in table:
    module = entry.torch_key.rsplit('.', 1)[0]
    assert convert.flax_module_path(module) == entry.path[:-1]
    assert convert.torch_module_path(entry.path[:-1]) == module
  by_key = {e.torch_key: e for e in table}
  assert by_key['hrnet.stage3.1.fuse_layers.2.0.1.0.weight'].path == (
      'backbone', 'stage3_1', 'fuse_layers_2_0_1_0', 'kernel')
  assert by_key['hrnet.stage3.1.fuse_layers.2.0.1.0.weight'].flax_shape == (3, 3, 48, 192)
  assert by_key['dcn_offset_1.conv.bias'].path == ('dcn_offset_1', 'conv', 'bias')
  assert by_key['feat_global_offset_layers.7.weight'].flax_shape == (144, 64)
  assert by_key['hrnet.bn1.running_var'].collection == 'batch_stats'
  assert by_key['hrnet.bn1.running_var'].path == ('backbone', 'bn1', 'var')
  assert by_key['sup_agg_block.layers.0.downsample.1.weight'].path[-1] == 'scale'


def test_round_trip_is_exact_both_ways(tiny):
  config, model, shapes = tiny
  state_dict = model.state_dict()
  variables, report = _convert(config, state_dict, shapes)
  assert report.ok and len(report.converted) == len(convert.key_table(shapes))
  assert len(report.ignored) == sum(k.endswith('num_batches_tracked') for k in state_dict)
  exported = convert.variables_to_torch_state_dict(variables)
  assert set(exported) == set(state_dict)
  for key, value in state_dict.items():
    if key.endswith('num_batches_tracked'):
      assert int(exported[key]) == 0 and exported[key].dtype == torch.int64
    else:
      assert torch.equal(exported[key], value), key
  again, _ = _convert(config, exported, shapes)
  _assert_same_variables(again, variables)
  fresh = tr.FamiPoseReference(config.model, num_supporting=N)
  fresh.load_state_dict(exported, strict=True)


def test_converted_variables_do_not_alias_the_torch_tensors(tiny):
  config, model, shapes = tiny
  state_dict = {k: v.clone() for k, v in model.state_dict().items()}
  variables, _ = _convert(config, state_dict, shapes)
  before = variables['batch_stats']['backbone']['bn1']['mean'].copy()
  state_dict['hrnet.bn1.running_mean'].add_(1.0)   # what a BN update in train mode does
  np.testing.assert_array_equal(variables['batch_stats']['backbone']['bn1']['mean'], before)


def _damaged(state_dict):
  damaged = dict(state_dict)
  del damaged['dcn_2.bias']
  del damaged['hrnet.stage4.0.branches.1.0.bn1.running_var']
  damaged['head.extra.weight'] = torch.zeros(3)
  damaged['agg_final_layer.weight'] = torch.zeros(17, 8, 1, 1)
  return damaged


def test_strict_mode_lists_every_problem_by_name_in_one_error(tiny):
  config, model, shapes = tiny
  with pytest.raises(convert.ConversionError) as error:
    _convert(config, _damaged(model.state_dict()), shapes)
  message = str(error.value)
  for text in ('missing keys (2)', 'dcn_2.bias', 'hrnet.stage4.0.branches.1.0.bn1.running_var',
               'unexpected keys (1)', 'head.extra.weight', 'shape mismatches',
               'agg_final_layer.weight: (17, 8, 1, 1) vs (17, 8, 3, 3)'):
    assert text in message


def test_non_strict_mode_reports_and_converts_the_rest(tiny):
  config, model, shapes = tiny
  state_dict = model.state_dict()
  variables, report = _convert(config, _damaged(state_dict), shapes, strict=False)
  assert report.missing == ['dcn_2.bias', 'hrnet.stage4.0.branches.1.0.bn1.running_var']
  assert report.unexpected == ['head.extra.weight']
  assert report.mismatched == [('agg_final_layer.weight', (17, 8, 1, 1), (17, 8, 3, 3))]
  assert len(report.converted) == len(convert.key_table(shapes)) - 3
  assert 'bias' not in variables['params']['dcn_2']
  assert set(variables['params']['agg_final_layer']) == {'bias'}
  np.testing.assert_array_equal(variables['params']['dcn_2']['kernel'],
                                state_dict['dcn_2.weight'].numpy().transpose(2, 3, 1, 0))
  assert report.to_json()['mismatched'] == [['agg_final_layer.weight', [17, 8, 1, 1],
                                             [17, 8, 3, 3]]]


def test_wrappers_and_prefixes_are_accepted(tiny, tmp_path):
  config, model, shapes = tiny
  state_dict = model.state_dict()
  want, _ = _convert(config, state_dict, shapes)
  wrapped = {f'module.{k}': v for k, v in state_dict.items()}
  path = tmp_path / 'famipose.pth'
  torch.save({'state_dict': wrapped, 'epoch': 3}, path)
  loaded = convert.load_torch_checkpoint(str(path))
  got, report = _convert(config, loaded, shapes)
  assert report.stripped_prefixes == ['module.']
  _assert_same_variables(got, want)


def test_hrnet_checkpoints_with_or_without_prefix_fill_the_backbone(tiny):
  config, model, _ = tiny
  bare = model.hrnet.state_dict()
  shapes = convert.variable_shapes(config.model, 'hrnet')
  plain, report = convert.state_dict_to_variables(bare, config.model, 'hrnet', shapes=shapes)
  assert report.ok and not report.stripped_prefixes
  prefixed = {f'module.hrnet.{k}': v for k, v in bare.items()}
  again, report = convert.state_dict_to_variables(prefixed, config.model, 'hrnet', shapes=shapes)
  assert report.ok and report.stripped_prefixes == ['module.', 'hrnet.']
  assert set(plain) == {'params', 'batch_stats'} and set(plain['params']) == {'backbone'}
  np.testing.assert_array_equal(again['params']['backbone']['final_layer']['kernel'],
                                plain['params']['backbone']['final_layer']['kernel'])
  # The backbone of a whole FAMI-Pose checkpoint, the additions reported as unexpected.
  _, report = convert.state_dict_to_variables(model.state_dict(), config.model, 'hrnet',
                                              shapes=shapes, strict=False)
  assert not report.missing and 'dcn_1.weight' in report.unexpected
  exported = convert.variables_to_state_dict(plain, 'hrnet')
  assert set(exported) == set(bare)


def test_errors_hint_at_the_model_kind_and_width(tiny):
  config, model, shapes = tiny
  with pytest.raises(convert.ConversionError, match='--model hrnet'):
    _convert(config, model.hrnet.state_dict(), shapes)
  wide = testing.tiny_config()
  wide.model.backbone.stage4.num_channels = (16, 32, 64, 128)
  wide_sd = tr.FamiPoseReference(wide.model, num_supporting=N).state_dict()
  with pytest.raises(convert.ConversionError, match='HRNet-W16 .*--width 16'):
    _convert(config, wide_sd, shapes)


def test_half_precision_tensors_become_float32(tiny):
  config, model, shapes = tiny
  state_dict = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v)
                for k, v in model.state_dict().items()}
  variables, _ = _convert(config, state_dict, shapes)
  kernel = variables['params']['dcn_1']['kernel']
  assert kernel.dtype == np.float32
  np.testing.assert_array_equal(
      kernel, state_dict['dcn_1.weight'].float().numpy().transpose(2, 3, 1, 0))


def test_unreadable_checkpoints_are_named(tmp_path):
  not_tensors = tmp_path / 'not_tensors.pth'
  torch.save({'conv1.weight': [1, 2, 3]}, not_tensors)
  with pytest.raises(convert.ConversionError, match="'conv1.weight' is a list"):
    convert.load_torch_checkpoint(str(not_tensors))
  not_dict = tmp_path / 'not_dict.pth'
  torch.save(torch.zeros(3), not_dict)
  with pytest.raises(convert.ConversionError, match='not_dict.pth: expected a state_dict'):
    convert.load_torch_checkpoint(str(not_dict))
  garbage = tmp_path / 'garbage.pth'
  garbage.write_bytes(b'not a checkpoint')
  with pytest.raises(convert.ConversionError, match='garbage.pth: not a PyTorch checkpoint'):
    convert.load_torch_checkpoint(str(garbage))
  with_objects = tmp_path / 'with_objects.pth'
  torch.save({'state_dict': {'conv1.weight': torch.zeros(1)},
              'args': argparse.Namespace(lr=0.001)}, with_objects)
  with pytest.raises(convert.ConversionError,
                     match=r'with_objects.pth: holds pickled objects .*argparse\.Namespace.*'
                           r'retry with --trust-pickle'):
    convert.load_torch_checkpoint(str(with_objects))
  assert list(convert.load_torch_checkpoint(str(with_objects), trust_pickle=True)) == [
      'conv1.weight']
  damaged = tmp_path / 'damaged.pth'
  damaged.write_bytes(with_objects.read_bytes()[:200])
  with pytest.raises(convert.ConversionError, match='damaged.pth: cannot read it') as error:
    convert.load_torch_checkpoint(str(damaged))
  assert 'trust-pickle' not in str(error.value)


@pytest.mark.parametrize('change', ['simcc', 'affine', 'single_frame'])
def test_key_table_matches_the_reference_for_every_variant(change):
  config = testing.tiny_config()
  kind = 'famipose'
  if change == 'simcc':
    config.model.head = 'simcc'
  elif change == 'affine':
    config.model.famipose.global_transform = 'affine'
  else:
    config = config_defaults.with_family(config, 'single_frame')
    kind = 'single_frame'
  reference = tr.FamiPoseReference(config.model, num_supporting=3)
  published = {k: tuple(v.shape) for k, v in reference.state_dict().items()
               if not k.endswith('num_batches_tracked')}
  shapes = convert.variable_shapes(config.model, kind, 3)
  assert {e.torch_key: e.torch_shape for e in convert.key_table(shapes)} == published
  if change == 'simcc':
    assert published['mlp_head_x.weight'] == (128, 24 * 16)   # round(64 * 2) bins, h*w inputs
  variables, report = convert.state_dict_to_variables(reference.state_dict(), config.model,
                                                      kind, 3, shapes=shapes)
  assert report.ok
  exported = convert.variables_to_torch_state_dict(variables, kind)
  for key, value in reference.state_dict().items():
    if not key.endswith('num_batches_tracked'):
      assert torch.equal(exported[key], value), key


def test_a_folder_given_as_the_checkpoint_is_named(tmp_path):
  with pytest.raises(convert.ConversionError, match=f'{tmp_path}: cannot read it as a PyTorch'):
    convert.load_torch_checkpoint(str(tmp_path))
