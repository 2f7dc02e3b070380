"""The PyTorch reference on its own: published key names and counts, DCN, warp, MI terms."""

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from configs import posetrack17  # pylint: disable=g-import-not-at-top
from famipose_jax.interop import testing
from famipose_jax.interop import torch_reference as tr


@pytest.fixture(scope='module')
def w48():
  """The full published network on the meta device (shapes only, no memory)."""
  with torch.device('meta'):
    return tr.FamiPoseReference(posetrack17.get_config().model, num_supporting=4)


def _count(model, prefix):
  return sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))


def test_w48_parameter_counts_match_the_reference_doc(w48):
  assert _count(w48, 'hrnet.') == 63_595_745
  groups = {
      'feat_global_offset_layers.': 35_410, 'combined_feat_layers.': 67_104,
      'dcn_offset_': 374_112, 'dcn_mask_': 187_056, 'sup_agg_block.': 154_848,
      'init_feature_agg_block.': 150_432, 'agg_final_layer.': 7_361,
  }
  for prefix, expected in groups.items():
    assert _count(w48, prefix) == expected, prefix
  assert sum(_count(w48, f'dcn_{i}.') for i in range(1, 5)) == 83_136
  additions = sum(p.numel() for n, p in w48.named_parameters() if not n.startswith('hrnet.'))
  assert additions == 1_059_459


def test_w48_published_key_names_and_shapes(w48):
  shapes = {k: tuple(v.shape) for k, v in w48.state_dict().items()}
  expected = {
      'hrnet.conv1.weight': (64, 3, 3, 3),
      'hrnet.bn2.running_var': (64,),
      'hrnet.layer1.0.downsample.0.weight': (256, 64, 1, 1),
      'hrnet.layer1.3.conv3.weight': (256, 64, 1, 1),
      'hrnet.transition1.0.0.weight': (48, 256, 3, 3),
      'hrnet.transition1.1.0.0.weight': (96, 256, 3, 3),
      'hrnet.stage2.0.branches.1.3.conv2.weight': (96, 96, 3, 3),
      'hrnet.stage2.0.fuse_layers.0.1.0.weight': (48, 96, 1, 1),
      'hrnet.stage2.0.fuse_layers.1.0.0.0.weight': (96, 48, 3, 3),
      'hrnet.transition2.2.0.0.weight': (192, 96, 3, 3),
      'hrnet.stage3.3.fuse_layers.2.0.0.0.weight': (48, 48, 3, 3),
      'hrnet.stage3.3.fuse_layers.2.0.1.0.weight': (192, 48, 3, 3),
      'hrnet.transition3.3.0.0.weight': (384, 192, 3, 3),
      'hrnet.stage4.2.branches.3.3.bn2.num_batches_tracked': (),
      'hrnet.stage4.2.fuse_layers.0.3.0.weight': (48, 384, 1, 1),
      'hrnet.final_layer.weight': (17, 48, 1, 1),
      'hrnet.final_layer.bias': (17,),
      'feat_global_offset_layers.0.layers.0.downsample.0.weight': (16, 48, 1, 1),
      'feat_global_offset_layers.0.layers.0.downsample.1.running_mean': (16,),
      'feat_global_offset_layers.5.conv.bias': (16,),
      'feat_global_offset_layers.5.bn.weight': (16,),
      'feat_global_offset_layers.7.weight': (64, 144),
      'feat_global_offset_layers.8.weight': (64, 64),
      'feat_global_offset_layers.9.weight': (2, 64),
      'sup_agg_block.layers.0.downsample.0.weight': (48, 192, 1, 1),
      'sup_agg_block.layers.1.conv2.weight': (48, 48, 3, 3),
      'combined_feat_layers.layers.0.conv1.weight': (48, 96, 3, 3),
      'dcn_offset_4.conv.weight': (216, 48, 3, 3),
      'dcn_mask_2.conv.bias': (108,),
      'dcn_3.weight': (48, 48, 3, 3),
      'dcn_3.bias': (48,),
      'init_feature_agg_block.layers.2.bn2.bias': (48,),
      'agg_final_layer.weight': (17, 48, 3, 3),
  }
  for key, shape in expected.items():
    assert shapes.get(key) == shape, key
  # The last module of stage 4 keeps only the high-resolution output.
  assert {k.split('.')[4] for k in shapes if k.startswith('hrnet.stage4.2.fuse_layers.')} == {'0'}
  assert {k.split('.')[2] for k in shapes if k.startswith('hrnet.stage3.')} == {'0', '1', '2', '3'}
  tops = {k.split('.')[0] for k in shapes}
  assert tops == {'hrnet', 'feat_global_offset_layers', 'sup_agg_block', 'combined_feat_layers',
                  'init_feature_agg_block', 'agg_final_layer',
                  *(f'{p}_{i}' for p in ('dcn', 'dcn_offset', 'dcn_mask') for i in range(1, 5))}
  # Index 6 is the Flatten and the upsampling modules hold nothing.
  assert not any(k.startswith('feat_global_offset_layers.6.') for k in shapes)
  assert not any('.fuse_layers.0.1.2.' in k for k in shapes)
  assert len(shapes) == 1929


def _torchvision_bilinear(image, y, x):
  """torchvision's deform_conv2d bilinear_interpolate, literally (one channel)."""
  height, width = image.shape
  if y <= -1 or height <= y or x <= -1 or width <= x:
    return 0.0
  y_low, x_low = math.floor(y), math.floor(x)
  y_high, x_high = y_low + 1, x_low + 1
  ly, lx = y - y_low, x - x_low
  hy, hx = 1 - ly, 1 - lx
  value = 0.0
  for yy, xx, w in ((y_low, x_low, hy * hx), (y_low, x_high, hy * lx),
                    (y_high, x_low, ly * hx), (y_high, x_high, ly * lx)):
    if 0 <= yy < height and 0 <= xx < width:
      value += w * float(image[yy, xx])
  return value


def _loop_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation):
  """Per-output-pixel loops over the torchvision definition of modulated deform_conv2d."""
  b, cin, _, _ = x.shape
  cout, _, kh, kw = weight.shape
  groups = offset.shape[1] // (2 * kh * kw)
  ho, wo = offset.shape[2:]
  out = np.zeros((b, cout, ho, wo))
  for n, oy, ox in itertools.product(range(b), range(ho), range(wo)):
    column = np.zeros((cin, kh, kw))
    for c, i, j in itertools.product(range(cin), range(kh), range(kw)):
      g = c // (cin // groups)
      k = i * kw + j
      dy = float(offset[n, 2 * (g * kh * kw + k), oy, ox])
      dx = float(offset[n, 2 * (g * kh * kw + k) + 1, oy, ox])
      y = oy * stride - padding + i * dilation + dy
      xx = ox * stride - padding + j * dilation + dx
      column[c, i, j] = (_torchvision_bilinear(x[n, c].numpy(), y, xx)
                         * float(mask[n, g * kh * kw + k, oy, ox]))
    out[n, :, oy, ox] = np.einsum('cij,ocij->o', column, weight.numpy()) + bias.numpy()
  return out


@pytest.mark.parametrize('stride,padding,dilation', [(1, 2, 2), (2, 1, 1)])
def test_modulated_deform_conv_matches_the_torchvision_definition(stride, padding, dilation):
  g = torch.Generator().manual_seed(0)
  x = torch.randn(2, 4, 5, 6, generator=g)
  ho = (5 + 2 * padding - dilation * 2 - 1) // stride + 1
  wo = (6 + 2 * padding - dilation * 2 - 1) // stride + 1
  offset = 2.5 * torch.randn(2, 2 * 2 * 9, ho, wo, generator=g)  # 2 groups, taps leave the image
  offset[0, 0, 0, 0] = -1.0 - padding  # exactly on the torchvision early-exit boundary
  mask = torch.randn(2, 2 * 9, ho, wo, generator=g)  # raw: negative values allowed
  weight = torch.randn(3, 4, 3, 3, generator=g)
  bias = torch.randn(3, generator=g)
  got = tr.modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding, dilation)
  want = _loop_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation)
  assert got.shape == (2, 3, ho, wo)
  np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)


def test_deform_conv_offset_channel_one_is_dx():
  """torchvision's offset layout (dy, dx): with a 1x1 kernel, +1 in channel 1 reads x + 1."""
  x = torch.arange(12.0).reshape(1, 1, 3, 4)
  offset = torch.zeros(1, 2, 3, 4)
  offset[:, 1] = 1.0
  out = tr.modulated_deform_conv2d(x, offset, torch.ones(1, 1, 3, 4),
                                   torch.ones(1, 1, 1, 1), None)
  np.testing.assert_array_equal(out[0, 0].numpy(), [[1, 2, 3, 0], [5, 6, 7, 0], [9, 10, 11, 0]])


def test_warp_affine_reproduces_both_kornia_conventions():
  """Kornia's two conventions on a 6x5 ramp (H=6, W=5), translation (tx, ty) = (1, 0.5)."""
  h, w = 6, 5
  ramp = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w) + 1
  matrix = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]]])
  for align_corners, sx, sy in ((True, 1.0, 1.0), (False, w / (w - 1), h / (h - 1))):
    out = tr.warp_affine(ramp, matrix, align_corners)[0, 0].numpy()
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    want = np.vectorize(lambda y, x: _torchvision_bilinear(ramp[0, 0], y, x))(
        ys - 0.5 * sy, xs - 1.0 * sx)
    np.testing.assert_allclose(out, want, atol=1e-5)
  shift_true = tr.warp_affine(ramp, matrix, True)
  shift_false = tr.warp_affine(ramp, matrix, False)
  assert float((shift_true - shift_false).abs().max()) > 1.0
  # align_corners=True, integer shift: content moves by exactly one column, zeros enter.
  integer = tr.warp_affine(ramp, torch.tensor([[[1.0, 0, 1], [0, 1, 0]]]), True)[0, 0]
  np.testing.assert_allclose(integer[:, 1:].numpy(), ramp[0, 0, :, :-1].numpy(), atol=1e-5)
  np.testing.assert_allclose(integer[:, 0].numpy(), 0.0, atol=1e-6)


def test_published_divergence_is_mean_of_q_times_log_q_minus_p():
  g = torch.Generator().manual_seed(1)
  fixed = torch.randn(2, 3, 4, 5, generator=g)
  moving = torch.randn(2, 3, 4, 5, generator=g)
  got = tr._published_divergence(fixed, moving, 0.05)  # pylint: disable=protected-access
  p = torch.softmax(fixed.flatten(2) / 0.05, -1)
  q = torch.softmax(moving.flatten(2) / 0.05, -1)
  assert float(q.min()) == 0.0  # T = 0.05 underflows: kl_div counts 0 log 0 as 0
  want = (torch.xlogy(q, q) - q * p).mean()
  assert abs(float(got) - float(want)) < 1e-6


def test_published_divergence_gradient_flows_only_through_the_moving_input():
  g = torch.Generator().manual_seed(1)
  fixed = torch.randn(2, 3, 4, 5, generator=g, requires_grad=True)
  moving = (0.05 * torch.randn(2, 3, 4, 5, generator=g)).requires_grad_()
  tr._published_divergence(fixed, moving, 0.05).backward()  # pylint: disable=protected-access
  assert fixed.grad is None
  assert 0 < float(moving.grad.abs().sum()) < float('inf')


def test_published_divergence_gradient_is_nan_once_the_softmax_underflows():
  """A fact of the published arithmetic: d(q log q)/dq = log q + 1 is -inf at q = 0."""
  moving = torch.tensor([[[0.0, 100.0, 3.0]]], requires_grad=True)
  tr._published_divergence(torch.zeros(1, 1, 3), moving, 0.05).backward()  # pylint: disable=protected-access
  assert bool(torch.isnan(moving.grad).all())


def test_finite_gradient_divergence_has_the_published_value_and_a_finite_gradient():
  g = torch.Generator().manual_seed(3)
  fixed = torch.randn(2, 3, 4, 5, generator=g)
  moving = torch.tensor([[[0.0, 100.0, 3.0]]])
  for source in (torch.randn(2, 3, 4, 5, generator=g), moving):
    target = fixed if source.shape == fixed.shape else torch.zeros(1, 1, 3)
    published = tr._published_divergence(target, source, 0.05)  # pylint: disable=protected-access
    leaf = source.clone().requires_grad_()
    finite = tr._published_divergence(target, leaf, 0.05, finite_gradient=True)  # pylint: disable=protected-access
    assert abs(float(finite.detach()) - float(published)) <= 1e-6 * max(1.0, abs(float(published)))
    finite.backward()
    assert bool(torch.isfinite(leaf.grad).all())
  # Where q underflows (the second source), the published gradient is NaN, this one is 0 there.
  assert float(leaf.grad[0, 0, 0]) == 0.0 and float(leaf.grad[0, 0, 2]) == 0.0


@pytest.fixture(scope='module')
def tiny():
  config = testing.tiny_config()
  model = testing.random_reference(config, num_supporting=3, seed=0)
  g = torch.Generator().manual_seed(2)
  key = torch.randn(2, 3, 96, 64, generator=g)
  support = torch.randn(2, 3, 3, 96, 64, generator=g)
  return config, model, key, support


def test_forward_returns_every_intermediate_with_the_jax_model_shapes(tiny):
  _, model, key, support = tiny
  model.eval()
  with torch.no_grad():
    out = tr.outputs_to_nhwc(model(key, support))
  expected = {
      'heatmaps': (2, 24, 16, 17), 'backbone_heatmaps': (2, 24, 16, 17),
      'key_features': (2, 24, 16, 8), 'supporting_features': (2, 3, 24, 16, 8),
      'global_params': (2, 3, 2), 'warped_support': (2, 3, 24, 16, 8),
      'aggregated_support': (2, 24, 16, 8), 'calibrated_key': (2, 24, 16, 8),
      'calibrated_support': (2, 24, 16, 8), 'fused_features': (2, 24, 16, 8),
      'decoded_fused': (2, 24, 16, 17), 'decoded_support': (2, 24, 16, 17),
      'decoded_key': (2, 24, 16, 17),
  }
  assert {k: v.shape for k, v in out.items()} == expected
  # Random weights give translations of about a pixel, not a degenerate zero warp.
  assert 0.1 < np.abs(out['global_params']).mean() < 20


def test_frames_share_one_backbone_pass_in_published_order(tiny):
  _, model, key, support = tiny
  model.eval()
  with torch.no_grad():
    out = model(key, support)
    for i in range(3):
      _, z = model.hrnet(support[:, i])
      np.testing.assert_allclose(out['supporting_features'][:, i].numpy(), z.numpy(), atol=1e-5)
    heatmaps, z = model.hrnet(key)
  np.testing.assert_allclose(out['key_features'].numpy(), z.numpy(), atol=1e-5)
  np.testing.assert_allclose(out['backbone_heatmaps'].numpy(), heatmaps.numpy(), atol=1e-5)


def test_train_mode_normalises_backbone_with_all_frames_statistics(tiny):
  config, model, key, support = tiny
  model.train()
  before = model.hrnet.bn1.running_mean.clone()
  frames = torch.cat([key, support.transpose(0, 1).flatten(0, 1)])
  with torch.no_grad():
    stem = model.hrnet.conv1(frames)
    model(key, support)
  momentum = 1 - config.model.backbone.bn_momentum
  want = (1 - momentum) * before + momentum * stem.mean(dim=(0, 2, 3))
  np.testing.assert_allclose(model.hrnet.bn1.running_mean.numpy(), want.numpy(), atol=1e-5)
  model.eval()


def test_published_init_matches_the_doc():
  config = testing.tiny_config()
  model = tr.FamiPoseReference(config.model, num_supporting=2).requires_grad_(False)
  tr.published_init_(model)
  assert float(model.dcn_offset_1.conv.weight.std()) == pytest.approx(0.001, rel=0.2)
  assert float(model.dcn_1.bias.abs().max()) == 0.0
  linears = [m for m in model.feat_global_offset_layers if isinstance(m, torch.nn.Linear)]
  assert len(linears) == 3 and float(linears[-1].bias.abs().max()) == 0.0
  assert float(model.hrnet.bn1.weight.min()) == 1.0
  # Linear and deformable weights keep PyTorch's kaiming-uniform default, bound 1/sqrt(fan_in).
  linear = linears[0].weight
  assert float(linear.abs().max()) <= 1 / math.sqrt(linear.shape[1]) + 1e-7
  assert float(linear.std()) > 0.1 / math.sqrt(linear.shape[1])
