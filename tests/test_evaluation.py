"""The mixture metrics on inputs whose answers are known."""
import numpy as np

from ali_jax import evaluation
from ali_jax.data import mixture


def _metrics(samples, reconstructions=None, latents=None):
  heldout, _ = mixture.sample(np.random.default_rng(1), 2000)
  rng = np.random.default_rng(2)
  return evaluation.mixture_metrics(
      samples, heldout,
      heldout if reconstructions is None else reconstructions,
      rng.standard_normal((2000, 2)) if latents is None else latents)


def test_perfect_model_scores_perfectly():
  samples, _ = mixture.sample(np.random.default_rng(0), 10_000)
  m = _metrics(samples)
  assert m['modes_covered'] == 25 and m['modes_covered_high_quality'] == 25
  assert m['high_quality_fraction'] > 0.98  # 3 std in 2-D holds 98.9 %
  assert m['mode_kl_to_uniform'] < 0.01
  assert m['reconstruction_same_mode_fraction'] == 1.0
  assert m['reconstruction_mse'] == 0.0
  assert m['latent_frechet_distance'] < 0.01


def test_collapsed_model_covers_one_mode():
  samples = np.tile(mixture.CENTRES[7], (10_000, 1))
  m = _metrics(samples, reconstructions=samples[:2000], latents=np.zeros((2000, 2)))
  assert m['modes_covered'] == 1 and m['modes_covered_high_quality'] == 1
  np.testing.assert_allclose(m['mode_kl_to_uniform'], np.log(25), rtol=1e-6)
  assert m['reconstruction_same_mode_fraction'] < 0.1
  # q(z) a point mass at 0: mean 0, covariance 0 -> distance = d = 2.
  np.testing.assert_allclose(m['latent_frechet_distance'], 2.0, atol=1e-6)


def test_spread_out_samples_cover_modes_without_quality():
  samples = np.random.default_rng(0).uniform(-5, 5, (10_000, 2))
  m = _metrics(samples)
  assert m['modes_covered'] == 25  # the paper's count is lenient ...
  assert m['high_quality_fraction'] < 0.05  # ... the quality measure is not


def test_frechet_distance_of_shifted_prior():
  latents = np.random.default_rng(0).standard_normal((100_000, 2)) + [3.0, 0.0]
  np.testing.assert_allclose(evaluation.gaussian_frechet_distance_to_prior(latents), 9.0,
                             rtol=0.01)
