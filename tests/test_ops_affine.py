"""affine_grid and kornia-style warp_affine against loop references, PyTorch and pinned facts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from famipose_jax.ops import affine
from tests import reference_ops

affine_grid = jax.jit(affine.affine_grid, static_argnums=(1, 2))
warp_affine = jax.jit(affine.warp_affine, static_argnums=(2, 3))


def _random_affine(rng, batch):
  """Pixel matrices near identity with rotation/scale/shear and a few pixels of translation."""
  return np.eye(2, 3)[None] + rng.normal(size=(batch, 2, 3)) * [[0.2, 0.2, 1.5]]


@pytest.mark.parametrize('align_corners', [True, False])
def test_affine_grid_matches_loop_reference(align_corners):
  rng = np.random.default_rng(0)
  theta = rng.normal(size=(2, 2, 3))
  got = affine_grid(jnp.asarray(theta, jnp.float32), (3, 5), align_corners)
  assert got.shape == (2, 3, 5, 2)
  np.testing.assert_allclose(got, reference_ops.affine_grid(theta, (3, 5), align_corners),
                             atol=1e-6)


@pytest.mark.parametrize('align_corners', [True, False])
@pytest.mark.parametrize('output_size', [None, (4, 7)])
def test_warp_affine_matches_kornia_chain(align_corners, output_size):
  rng = np.random.default_rng(1)
  image = rng.normal(size=(3, 6, 5, 2))
  matrix = _random_affine(rng, 3)
  got = warp_affine(jnp.asarray(image, jnp.float32), jnp.asarray(matrix, jnp.float32),
                    align_corners, output_size)
  want = reference_ops.kornia_warp_affine(image, matrix, align_corners, output_size or (6, 5))
  assert got.shape == want.shape
  assert np.abs(want).max() > 0.5 and (want == 0).any()  # content inside and padding outside
  np.testing.assert_allclose(got, want, atol=3e-5)


@pytest.mark.parametrize('align_corners', [True, False])
def test_warp_affine_matches_torch_affine_grid_grid_sample(align_corners):
  torch = pytest.importorskip('torch')
  fn = torch.nn.functional
  rng = np.random.default_rng(2)
  image = rng.normal(size=(2, 6, 5, 3))
  matrix = _random_affine(rng, 2)
  size_in, size_out = (6, 5), (4, 7)

  def to_normalised(h, w):
    return torch.tensor([[2 / (w - 1), 0, -1], [0, 2 / (h - 1), -1], [0, 0, 1.]],
                        dtype=torch.float64)

  m = torch.cat([torch.tensor(matrix), torch.tensor([[[0, 0, 1.]]]).repeat(2, 1, 1)], 1)
  normalised = to_normalised(*size_out) @ m @ torch.linalg.inv(to_normalised(*size_in))
  theta = torch.linalg.inv(normalised)[:, :2]
  grid = fn.affine_grid(theta, [2, 3, *size_out], align_corners=align_corners)
  want = fn.grid_sample(torch.tensor(image).permute(0, 3, 1, 2), grid, mode='bilinear',
                        padding_mode='zeros', align_corners=align_corners)
  got = warp_affine(jnp.asarray(image, jnp.float32), jnp.asarray(matrix, jnp.float32),
                    align_corners, size_out)
  np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), atol=3e-5)
  # affine_grid itself against torch, on the same theta.
  ours = affine_grid(jnp.asarray(theta.numpy(), jnp.float32), size_out, align_corners)
  np.testing.assert_allclose(ours, grid.numpy(), atol=1e-5)


def test_kornia_translation_facts_on_a_6x5_ramp():
  """Kornia's warp_affine conventions: theta translation t gives out(x, y) = in(x - tx, y - ty) with
  align_corners=True; with False the shift is t * W / (W - 1) (1.25 px on width 5)."""
  ramp = jnp.arange(30, dtype=jnp.float32).reshape(1, 6, 5, 1)   # in(x, y) = 5 y + x
  shift_x = affine.translation_matrix(jnp.array([[1.0, 0.0]]))
  shift_y = affine.translation_matrix(jnp.array([[0.0, 1.0]]))
  out = np.asarray(warp_affine(ramp, shift_x, True, None))[0, ..., 0]
  expected = np.arange(30.).reshape(6, 5) - 1
  expected[:, 0] = 0                                             # read from x = -1: outside
  np.testing.assert_allclose(out, expected, atol=1e-5)
  out = np.asarray(warp_affine(ramp, shift_y, True, None))[0, ..., 0]
  expected = np.arange(30.).reshape(6, 5) - 5
  expected[0] = 0
  np.testing.assert_allclose(out, expected, atol=1e-5)

  # align_corners=False: destination x reads source x - 1.25 (a linear ramp stays linear).
  out = np.asarray(warp_affine(ramp, shift_x, False, None))[0, ..., 0]
  np.testing.assert_allclose(out[:, 2:], np.arange(30.).reshape(6, 5)[:, 2:] - 1.25, atol=1e-4)
  np.testing.assert_allclose(out[:, 1], 0.75 * (np.arange(6) * 5), atol=1e-5)  # 0.75 of x = 0
  np.testing.assert_allclose(out[:, 0], 0, atol=1e-6)
  out = np.asarray(warp_affine(ramp, shift_y, False, None))[0, ..., 0]
  # Height 6: the shift is 6 / 5 = 1.2 rows.
  np.testing.assert_allclose(out[2:], np.arange(30.).reshape(6, 5)[2:] - 1.2 * 5, atol=1e-4)


def test_translation_and_inverse_helpers():
  m = affine.translation_matrix(jnp.array([[2.0, -3.0]]))
  np.testing.assert_array_equal(m, [[[1, 0, 2], [0, 1, -3]]])
  rng = np.random.default_rng(3)
  matrix = _random_affine(rng, 4)
  inverse = np.asarray(affine.invert_affine(jnp.asarray(matrix, jnp.float32)))
  full = lambda a: np.concatenate([a, np.tile([[[0, 0, 1.]]], (len(a), 1, 1))], 1)
  np.testing.assert_allclose(full(inverse) @ full(matrix), np.tile(np.eye(3), (4, 1, 1)),
                             atol=1e-5)


def test_warp_affine_gradients_reach_image_and_matrix():
  rng = np.random.default_rng(4)
  image = jnp.asarray(rng.normal(size=(1, 6, 5, 2)), jnp.float32)
  t = jnp.array([[0.3, -0.6]])

  @jax.jit
  def loss(image, t):
    return jnp.sum(affine.warp_affine(image, affine.translation_matrix(t), True) ** 2)

  g_image, g_t = jax.jit(jax.grad(loss, argnums=(0, 1)))(image, t)
  eps = 1e-3
  for k in range(2):
    dt = jnp.zeros_like(t).at[0, k].set(eps)
    numeric = (loss(image, t + dt) - loss(image, t - dt)) / (2 * eps)
    np.testing.assert_allclose(g_t[0, k], numeric, rtol=2e-2, atol=1e-3)
  assert np.abs(np.asarray(g_image)).sum() > 0


def test_warp_affine_errors():
  image = jnp.zeros((2, 6, 5, 1))
  with pytest.raises(ValueError, match=r'matrix must be \[B, 2, 3\].*\(2, 3, 3\)'):
    affine.warp_affine(image, jnp.zeros((2, 3, 3)), True)
  with pytest.raises(ValueError, match=r'matrix batch 1 != image batch 2'):
    affine.warp_affine(image, jnp.zeros((1, 2, 3)), True)
  with pytest.raises(ValueError, match=r'align_corners=False needs every side > 1'):
    affine.warp_affine(image, jnp.zeros((2, 2, 3)), False, (1, 5))
  with pytest.raises(ValueError, match=r'theta must be \[B, 2, 3\].*\(2, 3\)'):
    affine.affine_grid(jnp.zeros((2, 3)), (3, 3), True)
