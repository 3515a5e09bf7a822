"""The prior p(z) (config.model.prior) and what it asks of the encoder.

  'gaussian'  N(0, I): ALI's prior (docs/papers.md), the default.
  'uniform'   U(-1, 1)^d: BiGAN's prior (its released code). A deterministic
              encoder's output a is squashed into the prior's support as
              z = 2 sigmoid(a) - 1, and the latent regressor's loss becomes the
              sigmoid cross-entropy of a against (z + 1) / 2
              (losses.uniform_latent_regression_loss).
"""
import jax
import numpy as np

from ali_jax.settings import choices


def _check(prior):
  if prior not in choices.PRIORS:
    raise ValueError(f'prior must be one of {choices.PRIORS}, got {prior!r}.')


def sample(key, shape, prior=choices.GAUSSIAN_PRIOR):
  """z ~ p(z), a jax array of `shape`."""
  _check(prior)
  if prior == choices.UNIFORM_PRIOR:
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
  return jax.random.normal(key, shape)


def sample_numpy(rng, shape, prior=choices.GAUSSIAN_PRIOR):
  """z ~ p(z) from a numpy Generator (host-side evaluation)."""
  _check(prior)
  if prior == choices.UNIFORM_PRIOR:
    return rng.uniform(-1.0, 1.0, shape).astype(np.float32)
  return rng.standard_normal(shape).astype(np.float32)


def squash(encoder_output, prior=choices.GAUSSIAN_PRIOR):
  """The encoder's output mapped into the prior's support (the identity for N(0, I))."""
  _check(prior)
  if prior == choices.UNIFORM_PRIOR:
    return 2.0 * jax.nn.sigmoid(encoder_output) - 1.0
  return encoder_output

