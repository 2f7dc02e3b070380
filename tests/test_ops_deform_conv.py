"""Modulated deformable convolution against a torchvision-rule loop reference and lax.conv."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.test_util import check_grads

from famipose_jax.ops import deform_conv
from tests import reference_ops

# (kernel hw, stride, padding, dilation, offset groups, with bias, input hw)
CASES = [
    ((3, 3), (1, 1), (1, 1), (1, 1), 1, True, (5, 6)),
    ((3, 3), (2, 2), (3, 3), (3, 3), 2, False, (7, 9)),
    ((3, 3), (1, 1), (3, 3), (3, 3), 4, True, (6, 5)),     # FAMI-Pose's DCN shape, tiny
    ((2, 3), (2, 1), (0, 1), (1, 2), 2, True, (6, 7)),     # non-square everything
]


@functools.partial(jax.jit, static_argnames=('stride', 'padding', 'dilation', 'offset_groups'))
def dcn(x, offset, mask, kernel, bias, *, stride, padding, dilation, offset_groups):
  return deform_conv.modulated_deform_conv(x, offset, mask, kernel, bias, stride=stride,
                                           padding=padding, dilation=dilation,
                                           offset_groups=offset_groups)


def _inputs(rng, case, batch=2, cin=4, cout=3, offset_scale=1.5):
  (kh, kw), stride, padding, dilation, groups, with_bias, (h, w) = case
  ho = deform_conv.output_size(h, kh, stride[0], padding[0], dilation[0])
  wo = deform_conv.output_size(w, kw, stride[1], padding[1], dilation[1])
  x = rng.normal(size=(batch, h, w, cin))
  offset = rng.normal(size=(batch, ho, wo, 2 * groups * kh * kw)) * offset_scale
  mask = rng.uniform(-0.5, 1.5, size=(batch, ho, wo, groups * kh * kw))   # raw: any sign
  kernel = rng.normal(size=(kh, kw, cin, cout))
  bias = rng.normal(size=(cout,)) if with_bias else None
  return x, offset, mask, kernel, bias


def _kwargs(case):
  _, stride, padding, dilation, groups, _, _ = case
  return dict(stride=stride, padding=padding, dilation=dilation, offset_groups=groups)


def _f32(a):
  return None if a is None else jnp.asarray(a, jnp.float32)


@pytest.mark.parametrize('case', CASES)
def test_matches_torchvision_rule_loop_reference(case):
  rng = np.random.default_rng(0)
  x, offset, mask, kernel, bias = _inputs(rng, case)
  # Samples that land exactly on and just inside the (-1, H) x (-1, W) cut-off.
  offset[0, 0, 0, :4] = [-1.0, 0.0, -0.999, 0.25]
  got = dcn(*map(_f32, (x, offset, mask, kernel, bias)), **_kwargs(case))
  want = reference_ops.deform_conv(x, offset, mask, kernel, bias, case[1], case[2], case[3],
                                   case[4])
  assert got.shape == want.shape
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize('case', CASES)
def test_zero_offsets_and_unit_mask_equal_a_plain_convolution(case):
  rng = np.random.default_rng(1)
  x, offset, mask, kernel, bias = _inputs(rng, case)
  offset, mask = np.zeros_like(offset), np.ones_like(mask)
  got = dcn(*map(_f32, (x, offset, mask, kernel, bias)), **_kwargs(case))
  want = lax.conv_general_dilated(_f32(x), _f32(kernel), case[1], [(p, p) for p in case[2]],
                                  rhs_dilation=case[3],
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  if bias is not None:
    want = want + _f32(bias)
  np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)
  # mask=None is the unit mask.
  np.testing.assert_allclose(dcn(_f32(x), _f32(offset), None, _f32(kernel), _f32(bias),
                                 **_kwargs(case)), got, atol=1e-6)


def test_offset_layout_dy_then_dx():
  """torchvision's offset layout (dy, dx): with a 1x1 kernel, +1 in channel 1 reads x + 1."""
  x = jnp.arange(12, dtype=jnp.float32).reshape(1, 3, 4, 1)
  kernel = jnp.ones((1, 1, 1, 1))
  right = jnp.zeros((1, 3, 4, 2)).at[..., 1].set(1.0)
  down = jnp.zeros((1, 3, 4, 2)).at[..., 0].set(1.0)
  kw = dict(stride=(1, 1), padding=(0, 0), dilation=(1, 1), offset_groups=1)
  np.testing.assert_array_equal(dcn(x, right, None, kernel, None, **kw)[0, ..., 0],
                                [[1, 2, 3, 0], [5, 6, 7, 0], [9, 10, 11, 0]])
  np.testing.assert_array_equal(dcn(x, down, None, kernel, None, **kw)[0, ..., 0],
                                [[4, 5, 6, 7], [8, 9, 10, 11], [0, 0, 0, 0]])
  # The mask scales its tap, raw (no sigmoid): 2.5 -> 2.5x, -1 -> negated.
  mask = jnp.full((1, 3, 4, 1), 2.5).at[0, 0, 0, 0].set(-1.0)
  out = dcn(x, jnp.zeros((1, 3, 4, 2)), mask, kernel, None, **kw)[0, ..., 0]
  np.testing.assert_allclose(out, np.where(np.arange(12).reshape(3, 4) == 0, -0.0,
                                           2.5 * np.arange(12).reshape(3, 4)))


@pytest.mark.parametrize('case', [CASES[0], CASES[1]])
def test_gradients_match_finite_differences(case):
  rng = np.random.default_rng(2)
  with jax.enable_x64(True):
    x, offset, mask, kernel, bias = (None if a is None else jnp.asarray(a, jnp.float64)
                                     for a in _inputs(rng, case, batch=1, cin=2, cout=2,
                                                      offset_scale=0.7))
    fn = jax.jit(functools.partial(deform_conv.modulated_deform_conv, **_kwargs(case)))
    if bias is None:
      check_grads(lambda x, o, m, k: fn(x, o, m, k, None), (x, offset, mask, kernel), order=1,
                  modes=['rev'], eps=1e-6, atol=1e-5, rtol=1e-5)
    else:
      check_grads(fn, (x, offset, mask, kernel, bias), order=1, modes=['rev'], eps=1e-6,
                  atol=1e-5, rtol=1e-5)


def test_bfloat16_inputs():
  rng = np.random.default_rng(3)
  case = CASES[2]
  x, offset, mask, kernel, bias = _inputs(rng, case)
  bf16 = lambda a: jnp.asarray(a, jnp.bfloat16)
  got = dcn(bf16(x), _f32(offset), _f32(mask), bf16(kernel), bf16(bias), **_kwargs(case))
  assert got.dtype == jnp.bfloat16
  want = reference_ops.deform_conv(x, offset, mask, kernel, bias, *case[1:5])
  # bfloat16 keeps 8 bits: relative error ~1% of the output scale.
  np.testing.assert_allclose(np.asarray(got, np.float32), want, atol=0.05 * np.abs(want).max())


def test_shape_errors_name_the_argument():
  x = jnp.zeros((1, 6, 5, 8))
  kernel = jnp.zeros((3, 3, 8, 4))
  offset = jnp.zeros((1, 6, 5, 36))
  mask = jnp.zeros((1, 6, 5, 18))
  call = functools.partial(deform_conv.modulated_deform_conv, padding=1, offset_groups=2)
  with pytest.raises(ValueError, match=r'offset shape \(1, 6, 5, 18\) != \(1, 6, 5, 36\)'):
    call(x, jnp.zeros((1, 6, 5, 18)), mask, kernel)
  with pytest.raises(ValueError, match=r'mask shape \(1, 6, 5, 9\) != \(1, 6, 5, 18\)'):
    call(x, offset, jnp.zeros((1, 6, 5, 9)), kernel)
  with pytest.raises(ValueError, match=r'x channels 8 .* not divisible by offset_groups=3'):
    deform_conv.modulated_deform_conv(x, offset, mask, kernel, padding=1, offset_groups=3)
  with pytest.raises(ValueError, match=r'offset shape \(1, 4, 3, 36\) != \(1, 6, 5, 36\).*'
                     r'conv output 6x5'):
    call(x, jnp.zeros((1, 4, 3, 36)), mask, kernel)
  with pytest.raises(ValueError, match=r'mask shape \(1, 4, 3, 18\) != \(1, 6, 5, 18\)'):
    call(x, offset, jnp.zeros((1, 4, 3, 18)), kernel)
  with pytest.raises(ValueError, match=r'kernel input channels 6 != x channels 8'):
    call(x, offset, mask, jnp.zeros((3, 3, 6, 4)))
  with pytest.raises(ValueError, match=r'bias shape \(3,\) != \(4,\)'):
    call(x, offset, mask, kernel, jnp.zeros((3,)))
  with pytest.raises(ValueError, match=r'stride must be an int or a pair'):
    deform_conv.modulated_deform_conv(x, offset, mask, kernel, stride=(1, 1, 1))
