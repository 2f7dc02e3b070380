"""Device-side normalisation of uint8 batch pixels: the published ToTensor + Normalize values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import posetrack17
from famipose_jax.config import defaults as config_defaults
from famipose_jax.models import inputs as pixels

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _published(x):
  """torchvision's ToTensor + Normalize in float32, on RGB uint8 pixels."""
  return (x.astype(np.float32) / np.float32(255) - np.float32(MEAN)) / np.float32(STD)


def test_uint8_pixels_normalise_to_the_published_values():
  values = np.arange(256, dtype=np.uint8)
  image = np.stack([values, values[::-1], np.roll(values, 7)], axis=-1)[None]   # [1, 256, 3]
  out = np.asarray(jax.jit(pixels.normalize_pixels, static_argnums=(1, 2))(image, MEAN, STD))
  assert out.dtype == np.float32
  # XLA may fold the divisions into reciprocal multiplies: a few float32 ulps (measured 7.2e-7).
  np.testing.assert_allclose(out, _published(image), rtol=0, atol=1.5e-6)
  np.testing.assert_allclose(out[0, 0], [-2.117904, 2.428571, 2.535425], atol=2e-6)   # 0, 255, 249
  np.testing.assert_allclose(out[0, 255, 0], (1 - 0.485) / 0.229, atol=2e-6)


def test_float_images_are_taken_as_normalised_and_other_dtypes_refused():
  image = jnp.full((1, 2, 2, 3), -0.5, jnp.float32)
  assert pixels.normalize_pixels(image, MEAN, STD) is image
  with pytest.raises(TypeError, match='int32'):
    pixels.normalize_pixels(jnp.zeros((1, 2, 2, 3), jnp.int32), MEAN, STD)


@pytest.mark.parametrize('family', ['famipose', 'single_frame'])
def test_network_inputs_follow_the_model_family(family):
  config = config_defaults.with_family(posetrack17.get_config(), family)
  rng = np.random.default_rng(0)
  batch = {'key_image': rng.integers(0, 256, (2, 4, 3, 3), np.uint8),
           'supporting_images': rng.integers(0, 256, (2, 4, 4, 3, 3), np.uint8)}
  images = pixels.network_inputs(batch, config)
  np.testing.assert_allclose(images[0], _published(batch['key_image']), atol=1.5e-6)
  if family == 'famipose':
    assert len(images) == 2
    np.testing.assert_allclose(images[1], _published(batch['supporting_images']), atol=1.5e-6)
  else:
    assert len(images) == 1
