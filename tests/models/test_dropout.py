"""ali_jax/models/dropout.py: 16-bit dropout masks, the statistics of nn.Dropout."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax.models import dropout


def test_mask_keeps_units_at_the_quantised_rate_independently():
  keep_rate = 0.8
  mask = np.asarray(dropout.keep_mask(jax.random.PRNGKey(0), keep_rate, (100, 50, 40, 5)))
  q = dropout.keep_threshold(keep_rate) / 2 ** dropout.DRAW_BITS
  assert abs(q - keep_rate) < 2 ** -dropout.DRAW_BITS
  sigma = np.sqrt(q * (1 - q) / mask.size)
  assert abs(mask.mean() - q) < 5 * sigma
  # The four draws of one hash are neighbours in memory: neighbours must be
  # independent (P(both kept) = q^2), and so must units a whole row apart.
  flat = mask.reshape(-1).astype(np.float64)
  for lag in (1, 2, 3, 4, 40 * 5):
    both = np.mean(flat[:-lag] * flat[lag:])
    assert abs(both - q * q) < 5 * np.sqrt(q * q * (1 - q * q) / (flat.size - lag)), lag


def test_mask_depends_on_the_key_only():
  shape = (7, 9, 3)  # not a multiple of the four draws per hash
  first = dropout.keep_mask(jax.random.PRNGKey(1), 0.5, shape)
  again = jax.jit(dropout.keep_mask, static_argnums=(1, 2))(jax.random.PRNGKey(1), 0.5, shape)
  other = dropout.keep_mask(jax.random.PRNGKey(2), 0.5, shape)
  typed = dropout.keep_mask(jax.random.wrap_key_data(jax.random.PRNGKey(1)), 0.5, shape)
  assert first.shape == shape and first.dtype == jnp.bool_
  np.testing.assert_array_equal(first, again)
  np.testing.assert_array_equal(first, typed)
  assert np.any(np.asarray(first) != np.asarray(other))


def test_dropout_is_unbiased_and_zeroes_dropped_units():
  x = jnp.full((400, 500), 3.0)
  y = dropout.Dropout(0.2).apply({}, x, rngs={'dropout': jax.random.PRNGKey(3)})
  y = np.asarray(y)
  kept = y != 0
  scale = 2 ** dropout.DRAW_BITS / dropout.keep_threshold(0.8)
  np.testing.assert_allclose(y[kept], 3.0 * scale, rtol=1e-6)
  q = 1 / scale
  assert abs(y.mean() - 3.0) < 5 * 3.0 * scale * np.sqrt(q * (1 - q) / y.size)


@pytest.mark.parametrize('rate, deterministic', [(0.0, False), (0.5, True)])
def test_dropout_off_is_the_identity_and_draws_no_key(rate, deterministic):
  x = jnp.arange(12.0).reshape(3, 4)
  y = dropout.Dropout(rate, deterministic=deterministic).apply({}, x)  # no 'dropout' rng
  np.testing.assert_array_equal(y, x)


def test_rate_one_drops_everything():
  y = dropout.Dropout(1.0).apply({}, jnp.ones((3, 4)), rngs={'dropout': jax.random.PRNGKey(0)})
  np.testing.assert_array_equal(y, 0.0)


def test_other_key_implementations_are_refused_by_name():
  key = jax.random.key(0, impl='rbg')
  with pytest.raises(ValueError, match='threefry2x32'):
    dropout.keep_mask(key, 0.5, (4,))
