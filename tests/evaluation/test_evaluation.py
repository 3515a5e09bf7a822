"""The mixture metrics on inputs whose answers are known."""
import types

import numpy as np

from ali_jax import data
from ali_jax.data import mixture
from ali_jax.evaluation import evaluator
from ali_jax.evaluation import figures
from ali_jax.evaluation import metrics


def _metrics(samples, reconstructions=None, latents=None):
  heldout, _ = mixture.sample(np.random.default_rng(1), 2000)
  rng = np.random.default_rng(2)
  return metrics.mixture_metrics(
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
  np.testing.assert_allclose(metrics.gaussian_frechet_distance_to_prior(latents), 9.0,
                             rtol=0.01)


# ---- The class-reading image metrics, on inputs whose answers are known -------------

class _ClassInFirstPixel:
  """A reference classifier that is right by construction: class = round(9 * x[0, 0])."""
  num_classes = 10
  test_accuracy = 1.0

  def predict(self, images):
    return np.rint(images[:, 0, 0, 0] * 9).astype(np.int64)

  def probabilities(self, images):
    return np.eye(10)[self.predict(images)]

  def features(self, images):
    return images.reshape(len(images), -1)

  def outputs(self, images):
    return self.probabilities(images), self.features(images)


def _images_of_classes(classes, seed=0):
  images = np.random.default_rng(seed).uniform(size=(len(classes), 4, 4, 1)).astype(
      np.float32)
  images[:, 0, 0, 0] = np.asarray(classes) / 9
  return images


def test_class_count_metrics_by_hand():
  assert metrics.kl_to_uniform(np.arange(1000) % 10, 10) == 0.0
  np.testing.assert_allclose(metrics.kl_to_uniform(np.zeros(50, int), 10), np.log(10))
  confident_and_even = np.eye(10)[np.arange(100) % 10]
  np.testing.assert_allclose(metrics.classifier_score(confident_and_even), 10, rtol=1e-6)
  np.testing.assert_allclose(metrics.classifier_score(np.full((100, 10), 0.1)), 1.0)
  one_class = np.eye(10)[np.zeros(100, int)]
  np.testing.assert_allclose(metrics.classifier_score(one_class), 1.0, rtol=1e-6)


def test_frechet_distance_of_identical_and_shifted_sets():
  features = np.random.default_rng(0).normal(size=(5000, 8))
  assert abs(metrics.frechet_distance(features, features)) < 1e-6
  # A shift of the mean by m adds |m|^2 and nothing else.
  shift = np.arange(8.0)
  np.testing.assert_allclose(metrics.frechet_distance(features, features + shift),
                             shift @ shift, rtol=1e-6)
  # Against the prior's formula when the second set is N(0, I) itself.
  latents = np.random.default_rng(1).normal(size=(200_000, 2)) * [2.0, 0.5] + [1.0, 0.0]
  prior = np.random.default_rng(2).normal(size=(200_000, 2))
  np.testing.assert_allclose(metrics.frechet_distance(latents, prior),
                             metrics.gaussian_frechet_distance_to_prior(latents), atol=0.02)


def test_nearest_neighbour_accuracy_on_identical_and_disjoint_sets():
  rng = np.random.default_rng(0)
  references, labels = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
  assert metrics.nearest_neighbour_accuracy(references, labels, references, labels) == 1.0
  assert metrics.nearest_neighbour_accuracy(references, labels, references,
                                               (labels + 1) % 3) == 0.0


def test_class_metrics_of_a_perfect_model_and_a_collapsed_one():
  classes = np.arange(200) % 10
  heldout = _images_of_classes(classes, seed=1)
  train = _images_of_classes(classes, seed=2)
  references = metrics.class_references(_ClassInFirstPixel(), train, classes, heldout,
                                           classes)
  assert references.pixel_1nn_accuracy < 1.0  # the other pixels are noise

  class Model:  # samples every class equally, reconstructs exactly, E(x) = x's class
    num_classes = 0  # its D does not classify
    # An autoencoder's: no D judges its pairs, no posterior (no inference diagnostics).
    settings = types.SimpleNamespace(method='autoencoder', model=types.SimpleNamespace(
        encoder='deterministic'))
    def __init__(self, collapsed):
      self.collapsed = collapsed
    def sample(self, n, y, seed):
      return _images_of_classes(np.zeros(n, int) if self.collapsed else np.arange(n) % 10)
    def reconstruct(self, x, y, seed):
      return _images_of_classes(np.zeros(len(x), int)) if self.collapsed else x
    def encode(self, x, y, seed):
      return self.features(x, hidden_layers=0)
    def decode(self, z, y):
      return _images_of_classes(np.rint(z[:, 0] * 9).astype(int))
    def features(self, x, hidden_layers):
      return x[:, :1, 0, 0] * (0 if self.collapsed else 1)

  perfect, arrays = evaluator.evaluate_images(Model(False), data.HeldOut(heldout, None, None),
                                               num_samples=1000, references=references)
  assert perfect['sample_class_kl_to_uniform'] == 0.0
  np.testing.assert_allclose(perfect['classifier_score'], 10, rtol=1e-6)
  assert perfect['reconstruction_class_agreement'] == 1.0
  assert perfect['encoder_1nn_accuracy'] == 1.0
  assert perfect['pixel_1nn_accuracy'] == references.pixel_1nn_accuracy
  assert perfect['reference_classifier_test_accuracy'] == 1.0
  assert arrays['samples'].shape[0] == figures.GRID_ROWS ** 2
  np.testing.assert_array_equal(arrays['reconstruction_classes'], classes[:50])
  collapsed, _ = evaluator.evaluate_images(Model(True), data.HeldOut(heldout, None, None),
                                            num_samples=1000,
                                            references=references)
  np.testing.assert_allclose(collapsed['sample_class_kl_to_uniform'], np.log(10))
  np.testing.assert_allclose(collapsed['classifier_score'], 1.0, rtol=1e-6)
  assert collapsed['reconstruction_class_agreement'] == 0.1
  assert collapsed['encoder_1nn_accuracy'] < 0.2  # every E(x) the same point
  assert collapsed['classifier_frechet_distance'] > perfect['classifier_frechet_distance']


def test_mean_reconstruction_agreement_sees_a_class_code_buried_in_posterior_noise():
  classes = np.arange(200) % 10
  heldout = _images_of_classes(classes, seed=1)
  references = metrics.class_references(_ClassInFirstPixel(), _images_of_classes(classes, seed=2),
                                         classes, heldout, classes)

  class GaussianModel:  # q(z|x) = N(x's class code, sigma^2): sampled z lose the class
    num_classes = 0
    settings = types.SimpleNamespace(method='autoencoder', model=types.SimpleNamespace(
        encoder='gaussian'))
    def __init__(self, sigma):
      self.sigma = sigma
    def posterior(self, x, y=None):
      mu = x[:, :1, 0, 0]
      return mu, np.full_like(mu, self.sigma)
    def encode(self, x, y, seed):
      mu, sigma = self.posterior(x)
      return mu + sigma * np.random.default_rng(seed).normal(size=mu.shape)
    def decode(self, z, y):
      return _images_of_classes(np.clip(np.rint(z[:, 0] * 9), 0, 9).astype(int))
    def reconstruct(self, x, y, seed):
      return self.decode(self.encode(x, y, seed), y)
    def sample(self, n, y, seed):
      return _images_of_classes(np.arange(n) % 10)
    def features(self, x, hidden_layers):
      return self.posterior(x)[0]

  results = {}
  for sigma in (1e-6, 5.0):
    results[sigma], _ = evaluator.evaluate_images(
        GaussianModel(sigma), data.HeldOut(heldout, None, None), num_samples=100,
        references=references)
  assert results[1e-6]['reconstruction_class_agreement'] == 1.0
  assert results[5.0]['reconstruction_class_agreement'] < 0.5  # the noise drowns the code
  for sigma in (1e-6, 5.0):  # G of the mean keeps every class, whatever the noise
    assert results[sigma]['mean_reconstruction_class_agreement'] == 1.0
    assert results[sigma]['encoder_1nn_accuracy'] == 1.0


def test_frechet_distance_on_non_commuting_covariances_matches_scipy_sqrtm():
  from scipy import linalg  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  a = rng.normal(size=(4000, 3)) @ np.array([[2.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.0, 0.0, 0.5]])
  b = rng.normal(size=(4000, 3)) @ np.array([[1.0, 0.0, 0.0], [0.8, 1.5, 0.0], [0.2, 0.0, 1.0]])
  b += [1.0, -0.5, 0.25]
  cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  assert not np.allclose(cov_a @ cov_b, cov_b @ cov_a)  # the case a diagonal shortcut gets wrong
  expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b)
              - 2 * np.trace(linalg.sqrtm(cov_a @ cov_b)).real)
  np.testing.assert_allclose(metrics.frechet_distance(a, b), expected, rtol=1e-6)


def test_classifier_score_and_class_kl_at_a_middle_point_by_hand():
  # Two classes; x1 certain of class 0, x2 split evenly: p(y) = (3/4, 1/4).
  p = np.array([[1.0, 0.0], [0.5, 0.5]])
  kl_1 = np.log(1 / 0.75)
  kl_2 = 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(0.5 / 0.25)
  np.testing.assert_allclose(metrics.classifier_score(p), np.exp((kl_1 + kl_2) / 2),
                             rtol=1e-6)
  # Class shares (3/4, 1/4) against uniform: 3/4 log(3/2) + 1/4 log(1/2).
  np.testing.assert_allclose(metrics.kl_to_uniform(np.array([0, 0, 0, 1]), 2),
                             0.75 * np.log(1.5) + 0.25 * np.log(0.5), rtol=1e-6)
