"""Evaluation through the inference model: what a run logs and draws at each evaluation.

evaluate_mixture and evaluate_images sample, encode and reconstruct with the model, score
with metrics.py, and return the arrays that the trainer draws with figures.py.
"""
import numpy as np

from ali_jax import losses
from ali_jax.evaluation import figures
from ali_jax.evaluation import metrics
from ali_jax.models import priors
from ali_jax.settings import choices
from ali_jax.settings import datasets


def inference_diagnostics(model, x, y=None, *, seed=0, posterior=None):
  """What D and E say about inference on the held-out `x`: the pairing diagnostic
  (losses.pairing_metrics, each x's code against the previous x's, D in inference mode) for
  the methods whose D judges encoder pairs, and losses.posterior_metrics for a
  'gaussian' encoder (from `posterior`, model.posterior(x, y), if the caller has it)."""
  results = {}
  if model.settings.method in choices.PAIRED_METHODS:
    z = model.encode(x, y, seed=seed)
    results.update(losses.pairing_metrics(model.real_logit(x, z, y),
                                          model.real_logit(x, np.roll(z, 1, axis=0), y)))
  if model.settings.model.encoder == choices.GAUSSIAN_ENCODER:
    mu, sigma = posterior if posterior is not None else model.posterior(x, y)
    results.update(losses.posterior_metrics(mu, np.log(sigma)))
  return {name: float(value) for name, value in results.items()}


def mean_reconstruction_class_agreement(model, mu, y, references):
  """The share of held-out x whose G(mu(x)), with mu the mean of q(z|x), the reference
  classifier puts in x's class. G(E(x)) draws z from q(z|x): a broad posterior can bury a
  mean that carries x's class, and G of the mean tells that apart from a code that does not."""
  return metrics.class_agreement(references.classifier.predict(model.decode(mu, y)),
                                 references.heldout_labels)


def evaluate_mixture(model, heldout, *, num_samples, seed=0, with_encoder=True):
  """Runs `model` on the mixture; returns (metrics, arrays for the figures).

  heldout: the held-out points (data.HeldOut) of the split being evaluated.
  with_encoder=False (a GAN, whose encoder is never trained): samples only.
  """
  samples = model.sample(num_samples, seed=seed)
  arrays = dict(samples=samples, heldout=heldout.images)
  if not with_encoder:
    return metrics.sample_metrics(samples), arrays
  latents = model.encode(heldout.images, seed=seed)
  reconstructions = model.decode(latents)
  prior = priors.sample_numpy(np.random.default_rng(seed), latents.shape,
                             model.settings.model.prior)
  arrays.update(latents=latents, reconstructions=reconstructions, prior=prior)
  return {**metrics.mixture_metrics(samples, heldout.images, reconstructions, latents),
          **inference_diagnostics(model, heldout.images, seed=seed)}, arrays


def evaluate_images(model, heldout, *, num_samples, seed=0, with_encoder=True,
                    references=None):
  """Reconstruction error and BiGAN's distance ratio on the held-out images of one
  split (`heldout`, a data.HeldOut), and with `references` (a labelled dataset's, of
  that split) what a reference classifier reads in them.

  reconstruction_mse: mean squared error per pixel of G(E(x)).
  reconstruction_distance: mean ||x - G(E(x))|| (BiGAN's EGr); random_pair_distance:
  mean ||x - x'|| to another held-out image (EGr_b); reconstruction_ratio: their
  ratio, below 1 when reconstructions are closer to x than other images are.
  With references: metrics.sample_class_metrics on `num_samples` samples and
  metrics.inference_class_metrics on every held-out image, and for a 'gaussian' encoder
  mean_reconstruction_class_agreement: the share of held-out x whose G(mean of q(z|x)) the
  classifier puts in x's class (reconstruction_class_agreement draws z from q(z|x)).
  test_error (a model whose D classifies, on labelled data): the share of
  held-out images that model.classify gets wrong.
  """
  x, y = heldout.images, heldout.conditions
  grid = figures.GRID_ROWS * figures.GRID_ROWS
  if references is None:  # only the grid needs samples
    num_samples = min(num_samples, grid)
  sample_conditions = None if y is None else y[np.arange(num_samples) % len(y)]
  samples = model.sample(num_samples, sample_conditions, seed=seed)
  results = {} if references is None else metrics.sample_class_metrics(samples, references)
  if model.num_classes and heldout.labels is not None:
    results['test_error'] = float(np.mean(model.classify(x) != heldout.labels))
  arrays = dict(samples=samples[:grid])
  if not with_encoder:  # a GAN: samples only
    return results, arrays
  reconstructions = model.reconstruct(x, y, seed=seed)
  flat = lambda a: a.reshape(len(a), -1)
  distance = np.linalg.norm(flat(x) - flat(reconstructions), axis=1).mean()
  others = x[(np.arange(len(x)) + 1 + np.random.default_rng(seed).integers(
      len(x) - 1)) % len(x)]  # a random shift: every image paired with a different one
  random_distance = np.linalg.norm(flat(x) - flat(others), axis=1).mean()
  # Interpolation strips between the latents of held-out pairs.
  pairs = min(figures.GRID_ROWS, len(x) // 2)
  z = model.encode(x[:2 * pairs], None if y is None else y[:2 * pairs], seed=seed)
  t = np.linspace(0, 1, figures.INTERPOLATION_STEPS)[None, :, None]
  path = ((1 - t) * z[:pairs, None] + t * z[pairs:2 * pairs, None]).reshape(
      pairs * figures.INTERPOLATION_STEPS, -1)
  path_conditions = None if y is None else np.repeat(y[:pairs], figures.INTERPOLATION_STEPS, 0)
  interpolations = model.decode(path, path_conditions)
  # A Gaussian encoder's (mu, sigma), read once for the diagnostics and G(mu) below.
  posterior = (model.posterior(x, y)
               if model.settings.model.encoder == choices.GAUSSIAN_ENCODER else None)
  results.update(inference_diagnostics(model, x, y, seed=seed, posterior=posterior))
  results.update({
      'reconstruction_mse': float(((x - reconstructions) ** 2).mean()),
      'reconstruction_distance': float(distance),
      'random_pair_distance': float(random_distance),
      'reconstruction_ratio': float(distance / random_distance),
  })
  shown = grid // 2
  arrays.update(heldout=x[:shown], reconstructions=reconstructions[:shown],
                interpolations=interpolations, interpolation_rows=pairs)
  if references is not None:
    class_metrics, classes = metrics.inference_class_metrics(model, x, reconstructions, references)
    results.update(class_metrics)
    if posterior is not None:
      results['mean_reconstruction_class_agreement'] = mean_reconstruction_class_agreement(
          model, posterior[0], y, references)
    arrays.update(heldout_labels=references.heldout_labels[:shown],
                  reconstruction_classes=classes[:shown])
  return results, arrays


def class_references_for_run(settings, dataset):
  """{split: metrics.ClassReferences} of the held-out splits ('validation', 'test') for a run on
  a labelled dataset (None for others, fake data, or config.evaluation.class_metrics=
  False); trains the reference classifier on the training split on first use.
  settings: the run's settings/run_settings.RunSettings."""
  from ali_jax.evaluation import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  if (not settings.evaluation.class_metrics
      or not hasattr(dataset, 'labelled_training_images')
      or not datasets.SPECS[settings.dataset].num_classes):
    return None
  spec = datasets.SPECS[settings.dataset]
  train_images, train_labels = dataset.labelled_training_images(
      settings.evaluation.reference_examples)
  test = lambda: (dataset.heldout(datasets.TEST).images, dataset.heldout(datasets.TEST).labels)
  classifier = classifier_lib.load_or_train(
      classifier_lib.cache_dir(settings.data.data_dir, settings.dataset,
                               settings.data.splits['train']),
      num_classes=spec.num_classes, image_shape=dataset.data_shape,
      train_split=lambda: (train_images, train_labels), test_split=test)
  # Each split's references are made when an evaluation first reads that split, so
  # the test split's only at the final evaluation.
  return _ReferencesBySplit(lambda split: metrics.class_references(
      classifier, train_images, train_labels, dataset.heldout(split).images,
      dataset.heldout(split).labels))


class _ReferencesBySplit(dict):
  """{split: metrics.ClassReferences}, each made on first use."""

  def __init__(self, make):
    super().__init__()
    self._make = make

  def __missing__(self, split):
    self[split] = references = self._make(split)
    return references
