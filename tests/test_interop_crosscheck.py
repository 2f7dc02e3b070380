"""Random PyTorch weights -> state_dict -> convert -> Flax: the same function, to 1e-4.

Every intermediate output, the backbone and final heatmaps, the updated BatchNorm statistics
and the six published MI terms are compared in eval and train mode, for N = 4 and N = 2
supporting frames, both warp align_corners conventions, the paper's affine global transform,
the HRNet backbone alone, and a real photograph. Run with -s to see the error table.
Cost: six jit compilations of tiny models, about 80 s of CPU time.

The random weights are chosen so that float32 itself is accurate to ~3e-5 here (see
famipose_jax/interop/testing.py: the published raw DCN mask makes the network's conditioning
depend strongly on the weight scale); a float32 PyTorch run differs from a float64 one by about
as much as the Flax run does.
"""

import copy
import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip('torch')

import cv2  # pylint: disable=g-import-not-at-top
import jax
import jax.numpy as jnp

from famipose_jax import losses
from famipose_jax import models
from famipose_jax.interop import convert
from famipose_jax.interop import testing
from famipose_jax.interop import torch_reference as tr

TOLERANCE = 1e-4
BATCH = 2


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  num_supporting: int
  align_corners: bool = True
  global_transform: str = 'translation'


CASES = {c.name: c for c in (
    Case('n4_align_true', 4, True),
    Case('n2_align_false', 2, False),
    Case('affine_n3', 3, True, 'affine'),
)}


class Setup:
  """A random reference, its converted Flax twin and jitted apply functions."""

  def __init__(self, case: Case, seed: int = 0):
    self.case = case
    config = testing.tiny_config()
    config.model.famipose.warp_align_corners = case.align_corners
    config.model.famipose.global_transform = case.global_transform
    self.config = config
    self.reference = testing.random_reference(config, case.num_supporting, seed)
    g = torch.Generator().manual_seed(seed + 100)
    testing.calibrate_batch_norm_(self.reference, *self.random_inputs(g))
    self.reference.eval()
    self.variables = convert.to_jax(convert.state_dict_to_variables(
        self.reference.state_dict(), config.model, 'famipose', case.num_supporting)[0])
    model = models.build_model(config.model)
    loss = config.model.famipose   # the published MI terms' settings

    def train_fn(variables, key, support):
      out, updates = model.apply(variables, key, support, train=True, mutable=['batch_stats'])
      mi, terms = losses.published_mi(out, temperature=loss.mi_temperature, alpha=loss.mi_alpha,
                                      beta=loss.mi_beta, faithful=True)
      return out, updates['batch_stats'], mi, terms

    self.eval_fn = jax.jit(lambda v, k, s: model.apply(v, k, s, train=False))
    self.train_fn = jax.jit(train_fn)

  def random_inputs(self, generator):
    w, h = self.config.model.image_size
    return (torch.randn(BATCH, 3, h, w, generator=generator),
            torch.randn(BATCH, self.case.num_supporting, 3, h, w, generator=generator))


_SETUPS = {}


def _setup(name: str) -> Setup:
  if name not in _SETUPS:
    _SETUPS[name] = Setup(CASES[name])
  return _SETUPS[name]


def _to_jax(key, support):
  return (jnp.asarray(key.permute(0, 2, 3, 1).numpy()),
          jnp.asarray(support.permute(0, 1, 3, 4, 2).numpy()))


def _max_errors(got, want) -> dict[str, float]:
  assert set(got) == set(want), (sorted(got), sorted(want))
  errors = {}
  for name in want:
    a, b = np.asarray(got[name]), np.asarray(want[name])
    assert a.shape == b.shape, (name, a.shape, b.shape)
    errors[name] = float(np.abs(a - b).max())
  return errors


def _report(title, errors, scale=None):
  print(f'\n{title}')
  for name, error in errors.items():
    extra = f'   (max |ref| {scale[name]:.3g})' if scale else ''
    print(f'  {name:22s} {error:.2e}{extra}')


def _check(title, errors, scale=None):
  _report(title, errors, scale)
  bad = {k: v for k, v in errors.items() if not v <= TOLERANCE}
  assert not bad, f'{title}: errors above {TOLERANCE}: {bad}'


def _compare_eval(setup: Setup, key, support, title):
  with torch.no_grad():
    want = tr.outputs_to_nhwc(setup.reference(key, support))
  got = setup.eval_fn(setup.variables, *_to_jax(key, support))
  _check(title, _max_errors(got, want), {k: float(np.abs(v).max()) for k, v in want.items()})
  return got, want


def _compare_train(setup: Setup, key, support, title):
  reference = copy.deepcopy(setup.reference).train()
  with torch.no_grad():
    raw = reference(key, support)
    own = setup.config.model.famipose
    mi, terms = tr.published_mi_terms(raw, own.mi_temperature, own.mi_alpha, own.mi_beta)
  want = tr.outputs_to_nhwc(raw)
  got, batch_stats, got_mi, got_terms = setup.train_fn(setup.variables, *_to_jax(key, support))
  errors = _max_errors(got, want)
  # Running statistics after the step, PyTorch's unbiased-variance update included.
  exported = convert.variables_to_state_dict(
      {'params': setup.variables['params'], 'batch_stats': batch_stats})
  torch_state = reference.state_dict()
  errors['running statistics'] = max(
      float(np.abs(exported[k] - torch_state[k].numpy()).max())
      for k in exported if k.endswith(('running_mean', 'running_var')))
  errors['published MI loss'] = abs(float(got_mi) - float(mi))
  for name, value in terms.items():
    errors[name] = abs(float(got_terms[name]) - float(value))
  _check(title, errors)
  # The update really moved the statistics (a comparison of two untouched copies proves nothing).
  moved = max(float(np.abs(torch_state[k].numpy() - v.numpy()).max())
              for k, v in setup.reference.state_dict().items() if k.endswith('running_var'))
  assert moved > 1e-2
  return errors


def _astronaut_batch(config, num_supporting):
  """The astronaut photo cropped around the person, and shifted crops as supporting frames."""
  skimage_data = pytest.importorskip('skimage.data')
  photo = skimage_data.astronaut().astype(np.float32) / 255.0   # [512, 512, 3] RGB
  w, h = config.model.image_size
  mean, std = np.array(config.data.mean), np.array(config.data.std)

  def crop(dx, dy, flip):
    x0, y0, crop_w = 40 + dx, 20 + dy, 300
    patch = photo[y0:y0 + crop_w * h // w, x0:x0 + crop_w]
    patch = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)
    patch = patch[:, ::-1] if flip else patch
    return ((patch - mean) / std).astype(np.float32)

  shifts = [(-40, -20), (-20, 10), (20, -10), (40, 20)][:num_supporting]  # ~2 feature px
  keys = np.stack([crop(0, 0, flip) for flip in (False, True)])
  support = np.stack([np.stack([crop(dx, dy, flip) for dx, dy in shifts])
                      for flip in (False, True)])
  return (torch.from_numpy(keys).permute(0, 3, 1, 2).contiguous(),
          torch.from_numpy(support).permute(0, 1, 4, 2, 3).contiguous())


def _check_eval_random(setup: Setup, seed: int):
  g = torch.Generator().manual_seed(seed)
  got, want = _compare_eval(setup, *setup.random_inputs(g), f'eval, {setup.case.name}')
  # Non-degenerate: the warp moved features and the deformable stages carry signal.
  assert np.abs(want['warped_support'] - want['supporting_features']).max() > 0.1
  assert np.abs(want['calibrated_support']).max() > 0.1
  assert np.abs(want['global_params']).max() > 0.2
  return got


def _check_train_random(setup: Setup, seed: int):
  g = torch.Generator().manual_seed(seed)
  _compare_train(setup, *setup.random_inputs(g), f'train, {setup.case.name}')


# One test per network so that pytest-xdist never builds (and compiles) a network twice.


def test_n4_align_true_eval_train_and_the_astronaut_photo():
  setup = _setup('n4_align_true')
  _check_eval_random(setup, 7)
  _check_train_random(setup, 8)
  key, support = _astronaut_batch(setup.config, setup.case.num_supporting)
  _compare_eval(setup, key, support, 'eval, astronaut, n4_align_true')
  _compare_train(setup, key, support, 'train, astronaut, n4_align_true')


def test_n2_align_false_eval_train_and_the_conventions_differ():
  setup = _setup('n2_align_false')
  _check_eval_random(setup, 7)
  _check_train_random(setup, 8)
  # The same weights under kornia >= 0.5's align_corners=True warp differently; Flax follows
  # the configured False.
  g = torch.Generator().manual_seed(9)
  key, support = setup.random_inputs(g)
  got = setup.eval_fn(setup.variables, *_to_jax(key, support))
  other = copy.deepcopy(setup.reference)
  other.config = copy.deepcopy(setup.config.model)
  other.config.famipose.warp_align_corners = True
  with torch.no_grad():
    want = tr.outputs_to_nhwc(setup.reference(key, support))['warped_support']
    with_true = tr.outputs_to_nhwc(other(key, support))['warped_support']
  assert np.abs(np.asarray(got['warped_support']) - want).max() <= TOLERANCE
  assert np.abs(np.asarray(got['warped_support']) - with_true).max() > 0.05


def test_affine_global_transform_eval():
  setup = _setup('affine_n3')
  got = _check_eval_random(setup, 7)
  assert got['global_params'].shape == (BATCH, setup.case.num_supporting, 2, 3)


def test_public_hrnet_checkpoint_converts_to_the_single_frame_model():
  """A state_dict with the public HRNet key names (no prefix) -> the model's backbone."""
  config = testing.tiny_config()
  setup_reference = testing.random_reference(config, 2, seed=3)
  hrnet = setup_reference.hrnet.eval()
  state_dict = hrnet.state_dict()
  assert 'conv1.weight' in state_dict and 'final_layer.bias' in state_dict
  variables, report = convert.state_dict_to_variables(state_dict, config.model, 'hrnet')
  assert report.ok and not report.stripped_prefixes
  assert set(variables['params']) == {'backbone'}
  single = convert.conversion_config(config.model, 'hrnet')
  model = models.build_model(single)
  g = torch.Generator().manual_seed(10)
  w, h = config.model.image_size
  image = torch.randn(BATCH, 3, h, w, generator=g)
  got = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      convert.to_jax(variables), jnp.asarray(image.permute(0, 2, 3, 1).numpy()))
  with torch.no_grad():
    heatmaps, features = hrnet(image)
  want = tr.outputs_to_nhwc({'heatmaps': heatmaps, 'backbone_heatmaps': heatmaps,
                             'key_features': features, 'decoded_key': heatmaps})
  _check('eval, HRNet alone (public key names)', _max_errors(got, want))
