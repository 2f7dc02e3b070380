"""`python -m famipose_jax.convert`: the folder it writes, what it refuses, init_from reading it."""

import json
import os

import jax
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from famipose_jax import convert as cli  # pylint: disable=g-import-not-at-top
from famipose_jax.checkpoints import init_from
from famipose_jax.checkpoints import trained_model
from famipose_jax.interop import convert
from famipose_jax.interop import testing

N = 2
TINY_CONFIG = '''
from famipose_jax.interop import testing

def get_config():
  config = testing.tiny_config()
  config.data.supporting_offsets = (-1, 1)
  return config
'''


@pytest.fixture(scope='module')
def files(tmp_path_factory):
  folder = tmp_path_factory.mktemp('cli')
  config_file = folder / 'tiny_config.py'
  config_file.write_text(TINY_CONFIG)
  config = testing.tiny_config()
  model = testing.random_reference(config, N, seed=4)
  famipose = folder / 'famipose.pth'
  torch.save({'state_dict': {f'module.{k}': v for k, v in model.state_dict().items()}}, famipose)
  hrnet = folder / 'hrnet.pth'
  torch.save(model.hrnet.state_dict(), hrnet)
  broken = folder / 'broken.pth'
  damaged = dict(model.state_dict())
  del damaged['dcn_4.weight']
  torch.save(damaged, broken)
  shapes = convert.variable_shapes(config.model, 'famipose', N)
  return {'config': str(config_file), 'famipose': str(famipose), 'hrnet': str(hrnet),
          'broken': str(broken), 'model': model, 'tiny': config, 'shapes': shapes,
          'folder': folder}


def _flat(tree):
  return dict(convert._leaves(tree))  # pylint: disable=protected-access


def _zeros(shapes):
  return jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def test_writes_orbax_variables_and_record_that_init_from_reads(files, tmp_path, capsys):
  out = tmp_path / 'converted'
  assert cli.main([files['famipose'], str(out), '--config', files['config']]) == 0
  assert sorted(os.listdir(out)) == ['config.json', 'conversion.json', 'variables']
  record = json.loads((out / 'conversion.json').read_text())
  assert record['model'] == 'famipose' and record['width'] == 8
  assert record['num_supporting'] == N and record['strict'] is True
  assert record['source'] == files['famipose'] and len(record['source_sha256']) == 64
  assert record['report']['stripped_prefixes'] == ['module.']
  assert record['report']['missing'] == [] and record['report']['ignored'] > 0
  model = files['model']
  assert record['counts']['parameters'] == sum(p.numel() for p in model.parameters())
  assert record['counts']['backbone_parameters'] == sum(p.numel() for p in model.hrnet.parameters())
  assert 'wrote' in capsys.readouterr().out

  loaded = init_from.load_variables(str(out))
  want, _ = convert.state_dict_to_variables(model.state_dict(), files['tiny'].model, 'famipose',
                                            N, shapes=files['shapes'])
  got, want = _flat(loaded), _flat(want)
  assert got.keys() == want.keys()
  for key, value in want.items():
    np.testing.assert_array_equal(got[key], value, err_msg=str(key))
  merged, modules = init_from.merge_variables(_zeros(files['shapes']), loaded, str(out))
  assert 'backbone' in modules and 'dcn_1' in modules
  np.testing.assert_array_equal(merged['params']['dcn_1']['kernel'],
                                want[('params', 'dcn_1', 'kernel')])
  # The recorded config rebuilds the network: prediction needs nothing but the folder.
  model = trained_model.load_trained_model(str(out))
  assert model.config.model.backbone.to_dict() == files['tiny'].model.backbone.to_dict()
  assert _flat(model.variables).keys() == want.keys()


def test_hrnet_checkpoint_initialises_only_the_backbone(files, tmp_path):
  out = tmp_path / 'hrnet'
  assert cli.main([files['hrnet'], str(out), '--model', 'hrnet', '--config', files['config']]) == 0
  record = json.loads((out / 'conversion.json').read_text())
  assert record['model'] == 'hrnet' and record['num_supporting'] is None
  assert not (out / 'config.json').exists()   # a bare HRNet is no FAMI-Pose to predict with
  loaded = init_from.load_variables(str(out))
  assert set(loaded['params']) == {'backbone'} and set(loaded['batch_stats']) == {'backbone'}
  target = _zeros(files['shapes'])
  merged, modules = init_from.merge_variables(target, loaded, str(out))
  assert modules == ['backbone']
  np.testing.assert_array_equal(
      merged['batch_stats']['backbone']['bn1']['var'],
      files['model'].hrnet.bn1.running_var.numpy())
  assert not merged['params']['dcn_1']['kernel'].any()   # additions keep the model's init


def test_refuses_a_non_empty_output_folder(files, tmp_path, capsys):
  out = tmp_path / 'taken'
  out.mkdir()
  (out / 'keep.txt').write_text('mine')
  assert cli.main([files['famipose'], str(out), '--config', files['config']]) == 2
  assert 'refusing to overwrite' in capsys.readouterr().err
  assert os.listdir(out) == ['keep.txt']


def test_strict_failure_writes_nothing_and_non_strict_records_the_report(files, tmp_path, capsys):
  out = tmp_path / 'strict'
  assert cli.main([files['broken'], str(out), '--config', files['config']]) == 2
  assert 'dcn_4.weight' in capsys.readouterr().err
  assert not out.exists()
  out = tmp_path / 'lenient'
  assert cli.main([files['broken'], str(out), '--config', files['config'], '--non-strict']) == 0
  assert 'dcn_4.weight' in capsys.readouterr().err
  record = json.loads((out / 'conversion.json').read_text())
  assert record['report']['missing'] == ['dcn_4.weight'] and record['strict'] is False
  assert 'kernel' not in init_from.load_variables(str(out))['params']['dcn_4']


def test_width_and_image_size_flags_shape_the_model():
  args = cli._parser().parse_args(  # pylint: disable=protected-access
      ['in.pth', 'out', '--width', '32', '--num-joints', '15', '--image-size', '192', '256'])
  config = cli.config_from_args(args)
  assert tuple(config.model.backbone.stage4.num_channels) == (32, 64, 128, 256)
  assert config.model.num_joints == 15 and config.data.num_joints == 15
  assert tuple(config.model.image_size) == (192, 256)
  assert tuple(config.model.heatmap_size) == (48, 64)


def test_a_text_file_is_named_as_not_a_checkpoint(files, tmp_path, capsys):
  notes = files['folder'] / 'notes.txt'
  notes.write_text('epoch 12: loss 0.0003\n')
  assert cli.main([str(notes), str(tmp_path / 'out'), '--config', files['config']]) == 2
  err = capsys.readouterr().err
  assert f'{notes}: not a PyTorch checkpoint' in err
  assert 'trust-pickle' not in err


def test_hrnet_keys_given_as_fami_pose_are_summarised_with_the_hint(files, tmp_path, capsys):
  assert cli.main([files['hrnet'], str(tmp_path / 'out'), '--config', files['config']]) == 2
  lines = capsys.readouterr().err.splitlines()
  num_keys = len(files['model'].hrnet.state_dict())
  assert lines[0].startswith('error: the state_dict does not match the famipose model')
  assert f'{num_keys} unexpected' in lines[0]
  assert len(lines) < 30 and any('... and' in line for line in lines)
  assert '--model hrnet' in lines[-1]
