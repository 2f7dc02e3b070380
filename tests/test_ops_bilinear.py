"""Bilinear sampling and grid_sample against loop references and PyTorch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from famipose_jax.ops import bilinear
from tests import reference_ops

# Jitted once per shape: eager op-by-op dispatch costs more than the computation here.
bilinear_sample = jax.jit(bilinear.bilinear_sample)
grid_sample = jax.jit(bilinear.grid_sample, static_argnums=2)


def x64():
  """float64 for gradient checks (jax.enable_x64 is the context manager in jax >= 0.10)."""
  return jax.enable_x64(True)


def _image(rng, shape=(2, 5, 6, 3)):
  return rng.normal(size=shape)


def test_bilinear_sample_matches_loop_reference():
  rng = np.random.default_rng(0)
  image = _image(rng)
  # Fractional positions inside, on the border ring, and beyond (all outside -> 0).
  y = rng.uniform(-2.5, 6.5, size=(2, 40))
  x = rng.uniform(-2.5, 7.5, size=(2, 40))
  y[:, :4] = [[0, 4, -0.5, 4.25]] * 2
  x[:, :4] = [[0, 5, 2.0, -0.75]] * 2
  got = bilinear_sample(jnp.asarray(image, jnp.float32), jnp.asarray(y, jnp.float32),
                                 jnp.asarray(x, jnp.float32))
  want = reference_ops.bilinear_sample(image, y, x)
  assert got.shape == (2, 40, 3)
  np.testing.assert_allclose(got, want, atol=2e-5)
  # Exact pixel centres give the pixel; a sample 1 px beyond the border gives 0.
  np.testing.assert_allclose(got[:, 0], image[:, 0, 0], atol=1e-6)
  np.testing.assert_allclose(got[:, 1], image[:, 4, 5], atol=1e-6)
  far = bilinear_sample(jnp.ones((1, 3, 3, 1)), jnp.array([[-1.0, 3.0, 1e9]]),
                                 jnp.array([[1.0, 1.0, 1.0]]))
  np.testing.assert_array_equal(far, np.zeros((1, 3, 1)))


def test_bilinear_sample_keeps_extra_sample_axes_and_works_under_jit_vmap():
  rng = np.random.default_rng(1)
  image = jnp.asarray(_image(rng), jnp.float32)
  y = jnp.asarray(rng.uniform(-1, 5, size=(2, 3, 4)), jnp.float32)
  x = jnp.asarray(rng.uniform(-1, 6, size=(2, 3, 4)), jnp.float32)
  out = bilinear_sample(image, y, x)
  assert out.shape == (2, 3, 4, 3)
  flat = bilinear_sample(image, y.reshape(2, 12), x.reshape(2, 12))
  np.testing.assert_allclose(out.reshape(2, 12, 3), flat, atol=1e-6)
  # vmap over a leading axis of several images.
  stacked = jax.jit(jax.vmap(bilinear.bilinear_sample))(image[None], y[None], x[None])
  np.testing.assert_allclose(stacked[0], out, atol=1e-6)


def test_bilinear_sample_bfloat16():
  rng = np.random.default_rng(2)
  image = _image(rng)
  y = rng.uniform(-1, 5, size=(2, 30))
  x = rng.uniform(-1, 6, size=(2, 30))
  out = bilinear_sample(jnp.asarray(image, jnp.bfloat16), jnp.asarray(y, jnp.float32),
                                 jnp.asarray(x, jnp.float32))
  assert out.dtype == jnp.bfloat16
  image_bf16 = np.asarray(jnp.asarray(image, jnp.bfloat16).astype(jnp.float32), np.float64)
  np.testing.assert_allclose(np.asarray(out, np.float32),
                             reference_ops.bilinear_sample(image_bf16, y, x), atol=2e-2)


@pytest.mark.parametrize('align_corners', [True, False])
def test_grid_sample_matches_loop_reference(align_corners):
  rng = np.random.default_rng(3)
  image = _image(rng, (2, 4, 5, 2))
  grid = rng.uniform(-1.4, 1.4, size=(2, 3, 7, 2))
  grid[0, 0, 0] = [-1, -1]
  grid[0, 0, 1] = [1, 1]
  got = grid_sample(jnp.asarray(image, jnp.float32), jnp.asarray(grid, jnp.float32),
                             align_corners)
  want = reference_ops.grid_sample(image, grid, align_corners)
  np.testing.assert_allclose(got, want, atol=2e-5)
  if align_corners:  # -1 / +1 are the centres of the corner pixels
    np.testing.assert_allclose(got[0, 0, 0], image[0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(got[0, 0, 1], image[0, 3, 4], atol=1e-6)
  else:  # -1 / +1 are the outer corners: a quarter of the corner pixel
    np.testing.assert_allclose(got[0, 0, 0], 0.25 * image[0, 0, 0], atol=1e-6)


@pytest.mark.parametrize('align_corners', [True, False])
def test_grid_sample_matches_torch(align_corners):
  torch = pytest.importorskip('torch')
  rng = np.random.default_rng(4)
  image = _image(rng, (2, 6, 5, 3))
  grid = rng.uniform(-1.3, 1.3, size=(2, 4, 7, 2))
  want = torch.nn.functional.grid_sample(
      torch.tensor(image).permute(0, 3, 1, 2), torch.tensor(grid), mode='bilinear',
      padding_mode='zeros', align_corners=align_corners).permute(0, 2, 3, 1).numpy()
  got = grid_sample(jnp.asarray(image, jnp.float32), jnp.asarray(grid, jnp.float32),
                             align_corners)
  np.testing.assert_allclose(got, want, atol=2e-5)


def test_bilinear_sample_gradients_match_finite_differences():
  rng = np.random.default_rng(5)
  with x64():
    image = jnp.asarray(_image(rng, (1, 4, 5, 2)))
    # Fractional positions (no finite-difference step crosses a pixel boundary), some in the
    # border ring where only some corners are inside.
    y = jnp.asarray(rng.uniform(-0.9, 3.9, size=(1, 12)))
    x = jnp.asarray(rng.uniform(-0.9, 4.9, size=(1, 12)))
    check_grads(bilinear_sample, (image, y, x), order=1, modes=['rev'], eps=1e-6,
                atol=1e-6, rtol=1e-6)


def test_shape_errors_name_the_argument():
  image = jnp.zeros((2, 4, 4, 1))
  with pytest.raises(ValueError, match=r'image must be \[B, H, W, C\].*\(4, 4, 1\)'):
    bilinear_sample(jnp.zeros((4, 4, 1)), jnp.zeros((4, 3)), jnp.zeros((4, 3)))
  with pytest.raises(ValueError, match=r'y and x.*y \(2, 3\), x \(2, 4\)'):
    bilinear_sample(image, jnp.zeros((2, 3)), jnp.zeros((2, 4)))
  with pytest.raises(ValueError, match=r'grid must be \[B, Ho, Wo, 2\].*\(2, 3, 3, 3\)'):
    grid_sample(image, jnp.zeros((2, 3, 3, 3)), True)
