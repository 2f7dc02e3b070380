"""DCPose against a PyTorch reference of the published DcPose_RSN, every output and intermediate.

Random order-one weights (offsets of several pixels at dilations up to 15, so that fractional
and out-of-bounds samples occur; raw masks), exported from the reference's state_dict and
converted strictly. In float64 ours equals it to 1e-8 in eval and train mode (BatchNorm
statistics included); in float32 ours is within 2.5x of the reference's own float32-vs-float64
difference, output by output. Asymmetric margins check the temporal weights, which both compute
in float32. Cost: four jit compilations of a tiny model, about 60 s of CPU time.
"""

import copy
import glob
import os

import numpy as np
import pytest

torch = pytest.importorskip('torch')

import jax  # pylint: disable=g-import-not-at-top

from configs import synthetic_dcpose  # pylint: disable=g-import-not-at-top
from famipose_jax import convert as convert_cli  # pylint: disable=g-import-not-at-top
from famipose_jax import models  # pylint: disable=g-import-not-at-top
from famipose_jax import predict  # pylint: disable=g-import-not-at-top
from famipose_jax.config import defaults as config_defaults  # pylint: disable=g-import-not-at-top
from famipose_jax.evaluation import __main__ as eval_cli  # pylint: disable=g-import-not-at-top
from famipose_jax.interop import convert  # pylint: disable=g-import-not-at-top
from famipose_jax.interop import dcpose_reference  # pylint: disable=g-import-not-at-top
from famipose_jax.interop import testing  # pylint: disable=g-import-not-at-top
from famipose_jax.interop import torch_reference as tr  # pylint: disable=g-import-not-at-top
from famipose_jax.models import inputs as model_inputs  # pylint: disable=g-import-not-at-top

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 3
# (c - p, n - c) per example: the published distance, a stand-in previous frame counted as 1
# frame back, and an asymmetric pair (weights 1/3 and 2/3, rounded to float32 as published).
MARGINS = [[1, 1], [1, 1], [2, 1]]
OFFSETS = [[-1, 1], [0, 1], [-2, 1]]     # the frames read minus the key frame, as the data gives
FLOAT64_TOLERANCE = 1e-8


def _dcn_kernel() -> str:
  try:
    import torchvision  # pylint: disable=g-import-not-at-top,unused-import
    return 'torchvision'
  except Exception:  # pylint: disable=broad-except (a CPU torch without torchvision)
    return 'reference'


@pytest.fixture(scope='module')
def setup():
  """(config, float64 reference in eval mode, its float64 variables, inputs x and margin)."""
  config = config_defaults.with_family(testing.tiny_config(), 'dcpose')
  reference = dcpose_reference.DCPoseReference(config.model, dcn=_dcn_kernel())
  testing.randomize_(reference, seed=0, offset_gain=10.0, mask_gain=1.0)
  generator = torch.Generator().manual_seed(1)
  w, h = config.model.image_size
  x = torch.randn(BATCH, 9, h, w, generator=generator)
  margin = torch.tensor(MARGINS)
  testing.calibrate_batch_norm_(reference, x, margin)
  reference = reference.double().eval()
  variables, report = convert.state_dict_to_variables(
      reference.state_dict(), config.model, 'dcpose', 2, dtype=np.float64)
  assert report.ok and len(report.ignored) > 100   # num_batches_tracked
  return config, reference, variables, x.double(), margin


def _jax_inputs(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(key [B, H, W, 3], supporting [B, 2, H, W, 3], offsets [B, 2]) of the published x."""
  nhwc = np.moveaxis(x.numpy(), 1, -1)
  key = nhwc[..., 0:3]
  supporting = np.stack([nhwc[..., 3:6], nhwc[..., 6:9]], axis=1)
  return key, supporting, np.asarray(OFFSETS, np.int32)


def _reference(reference, x, margin, train: bool, dtype=torch.float64):
  model = copy.deepcopy(reference).to(dtype).train(train)
  with torch.no_grad():
    out = tr.outputs_to_nhwc(model(x.to(dtype), margin))
  return out, model


def _errors(got, want) -> dict[str, float]:
  assert sorted(got) == sorted(want)
  return {k: float(np.abs(np.asarray(got[k], np.float64) - want[k]).max()) for k in want}


def test_the_setup_exercises_far_and_fractional_samples(setup):
  config, reference, _, x, margin = setup
  want, _ = _reference(reference, x, margin, train=False)
  offsets = np.abs(want['offsets_4'])                    # dilation 15 on a 24 x 16 map
  assert offsets.mean() > 2.0 and np.mean(offsets % 1 > 0.05) > 0.8
  assert np.abs(want['corrections_4']).max() > 0.1 and np.abs(want['heatmaps']).max() > 0.1
  assert tuple(config.model.dcpose.dcn_dilations) == (3, 6, 9, 12, 15)


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
def test_float64_equals_the_reference(setup, train):
  config, reference, variables, x, margin = setup
  with testing.float64():
    got, updates = testing.apply_in_dtype(config.model, variables, _jax_inputs(x),
                                          'float64', train)
  want, ran = _reference(reference, x, margin, train)
  errors = _errors(got, want)
  assert max(errors.values()) <= FLOAT64_TOLERANCE, errors
  # The temporal weights are float32 values in a float64 run, as published: 1/3 rounded.
  assert got['prev_weight'][2, 0, 0, 0] == np.float64(np.float32(1 / 3))
  assert got['prev_weight'].dtype == np.float64 and got['prev_weight'][0, 0, 0, 0] == 0.5
  if train:   # the running statistics after the step, the backbone's included
    exported = convert.variables_to_state_dict(
        {'params': variables['params'], 'batch_stats': updates['batch_stats']}, 'dcpose')
    stats, worst = testing.running_statistics_error(exported, ran.state_dict())
    assert len(stats) > 100 and any(k.startswith('rough_pose') for k in stats)
    assert worst <= FLOAT64_TOLERANCE


@pytest.mark.parametrize('train', [False, True], ids=['eval', 'train'])
def test_float32_is_as_close_as_the_references_own_float32(setup, train):
  config, reference, variables, x, margin = setup
  got, _ = testing.apply_in_dtype(config.model, variables, _jax_inputs(x), 'float32', train)
  want, _ = _reference(reference, x, margin, train)
  own, _ = _reference(reference, x, margin, train, dtype=torch.float32)
  ratios = testing.float32_error_ratios(got, own, want)
  assert max(ratios.values()) <= testing.FLOAT32_FACTOR, ratios


def test_a_published_state_dict_converts_strictly_and_a_broken_one_is_named(setup):
  config, reference, _, _, _ = setup
  state = reference.state_dict()
  non_backbone = [k for k in state if not k.startswith('rough_pose_estimation_net.')]
  assert len(non_backbone) == 461
  _, report = convert.state_dict_to_variables(state, config.model, 'dcpose', 2)
  assert report.ok and len(report.converted) + len(report.ignored) == len(state)
  missing = {k: v for k, v in state.items() if k != 'offsets_list.3.0.weight'}
  with pytest.raises(convert.ConversionError,
                     match=r'missing keys \(1\):\n  offsets_list.3.0.weight'):
    convert.state_dict_to_variables(missing, config.model, 'dcpose', 2)
  reshaped = dict(state)
  reshaped['modulated_deform_conv_list.1.deform_conv.weight'] = torch.zeros(17, 17, 5, 5)
  with pytest.raises(convert.ConversionError,
                     match=r'modulated_deform_conv_list.1.deform_conv.weight: '
                     r'\(17, 17, 5, 5\) vs \(17, 17, 3, 3\)'):
    convert.state_dict_to_variables(reshaped, config.model, 'dcpose', 2)
  exported = convert.variables_to_torch_state_dict(
      convert.state_dict_to_variables(state, config.model, 'dcpose', 2, dtype=np.float64)[0],
      'dcpose')
  assert sorted(exported) == sorted(state)
  for key, value in state.items():
    if not key.endswith('num_batches_tracked'):
      assert torch.equal(exported[key].double(), value), key


def test_the_published_init_matches(setup):
  """Identity deformable kernels, N(0, 0.001) convolutions, zero biases, on both sides."""
  config, _, _, _, _ = setup
  reference = dcpose_reference.DCPoseReference(config.model)
  dcpose_reference.published_init_(reference)
  model = models.build_model(config.model)
  example = model_inputs.example_inputs(config.model, 1, 2)
  variables = jax.jit(lambda k: model.init(k, *example, train=False))(jax.random.key(0))
  params = variables['params']
  for i in range(5):
    ours = np.asarray(params[f'modulated_deform_conv_list_{i}']['deform_conv']['kernel'])
    theirs = reference.modulated_deform_conv_list[i].deform_conv.weight.detach().numpy()
    np.testing.assert_array_equal(ours, convert.to_flax_layout(theirs))
    assert 'bias' not in params[f'offsets_list_{i}_0']
  kernel = np.asarray(params['offsets_list_0_0']['kernel'])
  assert abs(kernel.std() - 0.001) < 1e-4 and kernel.size > 1000


def test_a_published_checkpoint_converts_predicts_and_evaluates(held_out_video, tmp_path,
                                                                capsys):
  """A DCPose checkpoint in the published format ({'begin_epoch', 'state_dict', ...}) becomes a
  model folder that `python -m famipose_jax.predict` runs on a video's frames, and whose
  prediction file `python -m famipose_jax.evaluation` scores; a broken one is refused, naming
  the key."""
  config_file = os.path.join(REPO, 'configs', 'synthetic_dcpose.py') + ':smoke'
  config = synthetic_dcpose.get_config('smoke')
  reference = dcpose_reference.DCPoseReference(config.model)
  testing.randomize_(reference, seed=5)
  checkpoint = {'begin_epoch': 20, 'state_dict': reference.state_dict(),
                'tensorboard_global_steps': 7}
  path = str(tmp_path / 'PoseTrack17_DCPose.pth')
  torch.save(checkpoint, path)
  broken = dict(reference.state_dict())
  del broken['support_temporal_fuse.layers.0.conv_bn_relu2_3_2.conv.weight']
  torch.save({'state_dict': broken}, str(tmp_path / 'broken.pth'))

  assert convert_cli.main([str(tmp_path / 'broken.pth'), str(tmp_path / 'no'), '--model',
                           'dcpose', '--config', config_file]) == 2
  assert ('support_temporal_fuse.layers.0.conv_bn_relu2_3_2.conv.weight'
          in capsys.readouterr().err) and not os.path.exists(tmp_path / 'no')
  folder = str(tmp_path / 'dcpose_model')
  assert convert_cli.main([path, folder, '--model', 'dcpose', '--config', config_file]) == 0
  assert sorted(os.listdir(folder)) == ['config.json', 'conversion.json', 'variables']

  frames = glob.glob(os.path.join(held_out_video, 'images', 'val', '*'))[0]
  out = tmp_path / 'predicted'
  assert predict.main([frames, '--checkpoint', folder, '--out', str(out), '--boxes',
                       'full-frame', '--no-video']) == 0
  video = os.path.basename(frames)
  assert os.listdir(out) == [f'{video}.json']
  capsys.readouterr()
  gt_dir = os.path.join(held_out_video, 'annotations', 'val')
  assert eval_cli.main([gt_dir, str(out)]) == 0
  table = capsys.readouterr().out
  assert table.startswith('1 videos, ') and '| Mean |' in table.replace('  ', ' ')
