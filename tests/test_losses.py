"""The pure losses against values computed by hand."""
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax import losses

# d_q on encoder pairs and d_p on decoder pairs.
REAL = jnp.array([0.0, 2.0])
FAKE = jnp.array([-1.0, 1.0])
LOG2 = np.log(2.0)
SOFTPLUS = {-2: np.log1p(np.exp(-2.0)), -1: np.log1p(np.exp(-1.0)),
            1: np.log1p(np.exp(1.0)), 2: np.log1p(np.exp(2.0))}


def test_discriminator_loss_by_hand():
  # mean(softplus(-[0, 2])) + mean(softplus([-1, 1]))
  expected = (LOG2 + SOFTPLUS[-2]) / 2 + (SOFTPLUS[-1] + SOFTPLUS[1]) / 2
  np.testing.assert_allclose(losses.discriminator_loss(REAL, FAKE), expected, rtol=1e-6)
  np.testing.assert_allclose(expected, 1.2233003, rtol=1e-6)


def test_generator_loss_non_saturating_by_hand():
  # mean(softplus([0, 2])) + mean(softplus(-[-1, 1]))
  expected = (LOG2 + SOFTPLUS[2]) / 2 + (SOFTPLUS[1] + SOFTPLUS[-1]) / 2
  np.testing.assert_allclose(losses.generator_loss(REAL, FAKE), expected, rtol=1e-6)
  np.testing.assert_allclose(expected, 2.2233003, rtol=1e-6)


def test_generator_loss_minimax_is_minus_discriminator_loss():
  np.testing.assert_allclose(losses.generator_loss(REAL, FAKE, form='minimax'),
                             -1.2233003, rtol=1e-6)


def test_unknown_form_names_choices():
  with pytest.raises(ValueError, match='non_saturating'):
    losses.generator_loss(REAL, FAKE, form='wasserstein')


def test_accuracies_by_hand():
  sigmoid = lambda v: 1 / (1 + np.exp(-v))
  np.testing.assert_allclose(losses.real_confidence(REAL), (0.5 + sigmoid(2)) / 2, rtol=1e-6)
  np.testing.assert_allclose(losses.fake_confidence(FAKE),
                             (1 - sigmoid(-1) + 1 - sigmoid(1)) / 2, rtol=1e-6)


def test_gradients_are_the_cross_entropy_gradients():
  sigmoid = jax.nn.sigmoid
  d_real, d_fake = jax.jit(jax.grad(losses.discriminator_loss, argnums=(0, 1)))(REAL, FAKE)
  np.testing.assert_allclose(d_real, -sigmoid(-REAL) / 2, rtol=1e-6)
  np.testing.assert_allclose(d_fake, sigmoid(FAKE) / 2, rtol=1e-6)
  g_real, g_fake = jax.grad(losses.generator_loss, argnums=(0, 1))(REAL, FAKE)
  np.testing.assert_allclose(g_real, sigmoid(REAL) / 2, rtol=1e-6)
  np.testing.assert_allclose(g_fake, -sigmoid(-FAKE) / 2, rtol=1e-6)


def test_stable_for_large_logits():
  big = jnp.array([1e4, -1e4])
  assert np.isfinite(losses.discriminator_loss(big, big))
  assert np.isfinite(losses.generator_loss(big, big))
  assert np.all(np.isfinite(jax.grad(losses.generator_loss)(big, big)))


def test_importable_without_flax_or_the_trainer():
  code = ('import sys, ali_jax.losses; '
          'bad = [m for m in ("flax", "optax", "orbax", "ml_collections", "ali_jax.training") '
          'if m in sys.modules]; assert not bad, bad')
  subprocess.run([sys.executable, '-c', code], check=True)


def test_pairing_metrics_by_hand():
  matched = jnp.array([2.0, 0.0, 1.0, -1.0])
  mismatched = jnp.array([1.0, 1.0, 1.0, -3.0])  # right, wrong, a tie, right
  result = losses.pairing_metrics(matched, mismatched)
  np.testing.assert_allclose(result['pairing_logit_gap'], (1 - 1 + 0 + 2) / 4)
  np.testing.assert_allclose(result['pairing_accuracy'], (1 + 0 + 0.5 + 1) / 4)
  # A D that ignores z scores both alike: chance.
  chance = losses.pairing_metrics(matched, matched)
  assert float(chance['pairing_logit_gap']) == 0 and float(chance['pairing_accuracy']) == 0.5


def test_posterior_metrics_by_hand():
  mu = jnp.array([[1.0, 0.0], [-1.0, 0.0]])  # Var_x(mu) = (1, 0): 1 in all
  log_sigma = jnp.log(jnp.array([[1.0, 1.0], [1.0, 1.0]]))  # E sigma^2 = (1, 1): 2 in all
  result = losses.posterior_metrics(mu, log_sigma)
  np.testing.assert_allclose(result['posterior_std'], 1.0)
  np.testing.assert_allclose(result['posterior_mean_share'], 1 / 3, rtol=1e-6)
  # Codes that ignore x explain nothing; a sharp posterior's means explain it all.
  assert float(losses.posterior_metrics(jnp.zeros((2, 2)), log_sigma)[
      'posterior_mean_share']) == 0
  np.testing.assert_allclose(losses.posterior_metrics(mu, log_sigma - 20)[
      'posterior_mean_share'], 1.0, rtol=1e-6)
