"""Evaluation through the inference model: the mixture's metrics and figures."""
import io
from typing import Any, NamedTuple

import matplotlib
matplotlib.use('Agg')  # files only; no display on training machines
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from PIL import Image

from ali_jax import priors
from ali_jax.data import mixture
from ali_jax.settings import datasets

HIGH_QUALITY_STDS = 3.0  # a sample within 3 std of a centre is "high quality"


def frechet_distance(features_a, features_b):
  """Frechet distance between Gaussians fitted to two feature sets (rows are examples).

  ||mu_a - mu_b||^2 + tr(C_a) + tr(C_b) - 2 tr((C_a^(1/2) C_b C_a^(1/2))^(1/2)): the
  FID formula; 0 when the two sets have the same mean and covariance.
  """
  mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
  cov_a = np.atleast_2d(np.cov(features_a.astype(np.float64), rowvar=False))
  cov_b = np.atleast_2d(np.cov(features_b.astype(np.float64), rowvar=False))
  eigenvalues, eigenvectors = np.linalg.eigh(cov_a)
  sqrt_a = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T
  cross = np.clip(np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a), 0.0, None)
  return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
               - 2.0 * np.sqrt(cross).sum())


def gaussian_frechet_distance_to_prior(latents):
  """Frechet distance between N(mean, cov) fitted to `latents` and N(0, I).

  ||mu||^2 + tr(C) + d - 2 tr(C^(1/2)): 0 when q(z) has the prior's first two
  moments.
  """
  mean = latents.mean(axis=0)
  cov = np.atleast_2d(np.cov(latents, rowvar=False))
  eigenvalues = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
  return float(mean @ mean + eigenvalues.sum() + len(mean)
               - 2.0 * np.sqrt(eigenvalues).sum())


def kl_to_uniform(classes, num_classes):
  """KL(share of each class among `classes` || uniform): 0 when all are equally common."""
  shares = np.bincount(classes, minlength=num_classes) / len(classes)
  nonzero = shares > 0
  return float((shares[nonzero] * np.log(shares[nonzero] * num_classes)).sum())


def classifier_score(probabilities):
  """exp E_x[KL(p(y|x) || p(y))], p(y) the mean of p(y|x) (the Inception Score's formula).

  Between 1 (every x gets the same class distribution) and the number of
  classes (confident, and every class equally often).
  """
  p = np.clip(probabilities.astype(np.float64), 1e-12, 1.0)
  marginal = p.mean(axis=0)
  return float(np.exp(np.mean(np.sum(p * (np.log(p) - np.log(marginal)), axis=1))))


def nearest_neighbour_accuracy(reference_features, reference_labels, features, labels):
  """Share of `features` whose nearest reference (Euclidean) has the same label: 1-NN."""
  from sklearn import neighbors  # pylint: disable=g-import-not-at-top
  classifier = neighbors.KNeighborsClassifier(n_neighbors=1, algorithm='brute').fit(
      reference_features.reshape(len(reference_features), -1), reference_labels)
  return float(np.mean(classifier.predict(features.reshape(len(features), -1)) == labels))


def sample_metrics(samples):
  """The paper's mode count and our sample quality measures for G(z), z ~ p(z)."""
  num_modes = len(mixture.CENTRES)
  sample_modes, sample_distances = mixture.assign_components(samples)
  high_quality = sample_distances <= HIGH_QUALITY_STDS * mixture.STD
  counts = np.bincount(sample_modes, minlength=num_modes)
  return {
      # The paper's count: a mode is covered if any sample is assigned to it.
      'modes_covered': int((counts > 0).sum()),
      # Stricter: a mode is covered if a high-quality sample lies near it.
      'modes_covered_high_quality': int(len(np.unique(sample_modes[high_quality]))),
      'high_quality_fraction': float(high_quality.mean()),
      # KL(sample mode shares || uniform): 0 when every mode gets 1/25 of samples.
      'mode_kl_to_uniform': kl_to_uniform(sample_modes, num_modes),
  }


def inference_metrics(heldout, reconstructions, latents):
  """How well E inverts G on held-out points, and how close q(z) is to the prior."""
  heldout_modes, _ = mixture.assign_components(heldout)
  reconstruction_modes, _ = mixture.assign_components(reconstructions)
  return {
      'reconstruction_same_mode_fraction': float((heldout_modes == reconstruction_modes).mean()),
      'reconstruction_mse': float(((heldout - reconstructions) ** 2).sum(axis=1).mean()),
      'latent_frechet_distance': gaussian_frechet_distance_to_prior(latents),
  }


def mixture_metrics(samples, heldout, reconstructions, latents):
  """sample_metrics and inference_metrics together.

  Args:
    samples: G(z) for z from the prior (the paper uses 10,000).
    heldout: held-out data points x.
    reconstructions: G(E(x)) for those points.
    latents: E(x) for those points.
  """
  return {**sample_metrics(samples), **inference_metrics(heldout, reconstructions, latents)}


def evaluate_mixture(model, heldout, *, num_samples, seed=0, with_encoder=True):
  """Runs `model` on the mixture; returns (metrics, arrays for the figures).

  heldout: the held-out points (data.HeldOut) of the split being evaluated.
  with_encoder=False (a GAN, whose encoder is never trained): samples only.
  """
  samples = model.sample(num_samples, seed=seed)
  arrays = dict(samples=samples, heldout=heldout.images)
  if not with_encoder:
    return sample_metrics(samples), arrays
  latents = model.encode(heldout.images, seed=seed)
  reconstructions = model.decode(latents)
  prior = priors.sample_numpy(np.random.default_rng(seed), latents.shape,
                             model.config.model.prior)
  arrays.update(latents=latents, reconstructions=reconstructions, prior=prior)
  return mixture_metrics(samples, heldout.images, reconstructions, latents), arrays


def _scatter_pair(left, right, *, titles, limit, left_colours=None, right_colours=None):
  """Two scatter plots side by side, as PNG bytes."""
  figure, axes = plt.subplots(1, 2, figsize=(10, 5))
  for ax, points, colours, title in zip(axes, (left, right),
                                        (left_colours, right_colours), titles):
    ax.scatter(points[:, 0], points[:, 1], s=1, c=colours,
               cmap=None if colours is None else 'tab20', alpha=0.5, rasterized=True)
    ax.set_title(title)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect('equal')
  figure.tight_layout()
  png = io.BytesIO()
  figure.savefig(png, format='png', dpi=100)
  plt.close(figure)
  return png.getvalue()


def mixture_figures(arrays, *, step):
  """{'samples.png', 'reconstructions.png', 'latents.png': PNG bytes}.

  Without latents in `arrays` (a GAN) only samples.png.
  """
  figures = {'samples.png': _scatter_pair(
      arrays['heldout'], arrays['samples'], limit=6,
      titles=('data x ~ q(x)', f'samples G(z), z ~ p(z) (step {step})'))}
  if 'latents' not in arrays:
    return figures
  modes, _ = mixture.assign_components(arrays['heldout'])
  figures['reconstructions.png'] = _scatter_pair(
      arrays['heldout'], arrays['reconstructions'], limit=6, left_colours=modes,
      right_colours=modes, titles=('held-out x (colour: its mode)', 'reconstructions G(E(x))'))
  figures['latents.png'] = _scatter_pair(
      arrays['latents'], arrays['prior'], limit=4, left_colours=modes,
      titles=('q(z): E(x) of held-out x (colour: its mode)', 'p(z) = N(0, I)'))
  return figures


# ---- Images ------------------------------------------------------------------------

GRID_ROWS = 10
INTERPOLATION_STEPS = 10


class ClassReferences(NamedTuple):
  """What the class-reading image metrics compare against (labelled datasets only).

  classifier: a classifier.ReferenceClassifier of the dataset.
  train_images, train_labels: labelled training images, the 1-NN references.
  heldout_labels: the labels of the dataset's held-out images.
  heldout_features: the classifier's features of the held-out images (the
    reference of classifier_frechet_distance).
  pixel_1nn_accuracy: 1-NN accuracy of the held-out images on raw pixels with
    the same references (the baseline for encoder_1nn_accuracy).
  """
  classifier: Any
  train_images: np.ndarray
  train_labels: np.ndarray
  heldout_labels: np.ndarray
  heldout_features: np.ndarray
  pixel_1nn_accuracy: float


def class_references(classifier, train_images, train_labels, heldout_images, heldout_labels):
  """ClassReferences, with what depends only on the data computed once per run."""
  return ClassReferences(classifier, train_images, train_labels, heldout_labels,
                         classifier.features(heldout_images),
                         nearest_neighbour_accuracy(train_images, train_labels,
                                                    heldout_images, heldout_labels))


def sample_class_metrics(samples, references):
  """What the reference classifier says of samples G(z): class coverage, score, FD."""
  classifier = references.classifier
  probabilities, features = classifier.outputs(samples)
  return {
      'sample_class_kl_to_uniform': kl_to_uniform(probabilities.argmax(axis=-1),
                                                  classifier.num_classes),
      'classifier_score': classifier_score(probabilities),
      'classifier_frechet_distance': frechet_distance(features, references.heldout_features),
      'reference_classifier_test_accuracy': classifier.test_accuracy,
  }


def inference_class_metrics(model, heldout, reconstructions, references):
  """Whether G(E(x)) keeps x's class, and E(x) as a 1-NN representation (BiGAN's
  protocol; E(x) is the encoder's mean, without noise).

  Returns (metrics, the classifier's class of each reconstruction).
  """
  predicted = references.classifier.predict(reconstructions)
  train_features = model.features(references.train_images, hidden_layers=0)
  heldout_features = model.features(heldout, hidden_layers=0)
  return {
      'reconstruction_class_agreement': float(np.mean(predicted == references.heldout_labels)),
      'encoder_1nn_accuracy': nearest_neighbour_accuracy(
          train_features, references.train_labels, heldout_features,
          references.heldout_labels),
      'pixel_1nn_accuracy': references.pixel_1nn_accuracy,
  }, predicted


def evaluate_images(model, heldout, *, num_samples, seed=0, with_encoder=True,
                    references=None):
  """Reconstruction error and BiGAN's distance ratio on the held-out images of one
  split (`heldout`, a data.HeldOut), and with `references` (a labelled dataset's, of
  that split) what a reference classifier reads in them.

  reconstruction_mse: mean squared error per pixel of G(E(x)).
  reconstruction_distance: mean ||x - G(E(x))|| (BiGAN's EGr); random_pair_distance:
  mean ||x - x'|| to another held-out image (EGr_b); reconstruction_ratio: their
  ratio, below 1 when reconstructions are closer to x than other images are.
  With references: sample_class_metrics on `num_samples` samples and
  inference_class_metrics on every held-out image.
  test_error (a model whose D classifies, on labelled data): the share of
  held-out images that model.classify gets wrong.
  """
  x, y = heldout.images, heldout.conditions
  grid = GRID_ROWS * GRID_ROWS
  if references is None:  # only the grid needs samples
    num_samples = min(num_samples, grid)
  sample_conditions = None if y is None else y[np.arange(num_samples) % len(y)]
  samples = model.sample(num_samples, sample_conditions, seed=seed)
  metrics = {} if references is None else sample_class_metrics(samples, references)
  if model.num_classes and heldout.labels is not None:
    metrics['test_error'] = float(np.mean(model.classify(x) != heldout.labels))
  arrays = dict(samples=samples[:grid])
  if not with_encoder:  # a GAN: samples only
    return metrics, arrays
  reconstructions = model.reconstruct(x, y, seed=seed)
  flat = lambda a: a.reshape(len(a), -1)
  distance = np.linalg.norm(flat(x) - flat(reconstructions), axis=1).mean()
  others = x[(np.arange(len(x)) + 1 + np.random.default_rng(seed).integers(
      len(x) - 1)) % len(x)]  # a random shift: every image paired with a different one
  random_distance = np.linalg.norm(flat(x) - flat(others), axis=1).mean()
  # Interpolation strips between the latents of held-out pairs.
  pairs = min(GRID_ROWS, len(x) // 2)
  z = model.encode(x[:2 * pairs], None if y is None else y[:2 * pairs], seed=seed)
  t = np.linspace(0, 1, INTERPOLATION_STEPS)[None, :, None]
  path = ((1 - t) * z[:pairs, None] + t * z[pairs:2 * pairs, None]).reshape(
      pairs * INTERPOLATION_STEPS, -1)
  path_conditions = None if y is None else np.repeat(y[:pairs], INTERPOLATION_STEPS, 0)
  interpolations = model.decode(path, path_conditions)
  metrics.update({
      'reconstruction_mse': float(((x - reconstructions) ** 2).mean()),
      'reconstruction_distance': float(distance),
      'random_pair_distance': float(random_distance),
      'reconstruction_ratio': float(distance / random_distance),
  })
  shown = grid // 2
  arrays.update(heldout=x[:shown], reconstructions=reconstructions[:shown],
                interpolations=interpolations, interpolation_rows=pairs)
  if references is not None:
    class_metrics, classes = inference_class_metrics(model, x, reconstructions, references)
    metrics.update(class_metrics)
    arrays.update(heldout_labels=references.heldout_labels[:shown],
                  reconstruction_classes=classes[:shown])
  return metrics, arrays


def image_grid(images, columns):
  """(n, H, W, C) floats in [0, 1] -> one uint8 image, `columns` wide, 1-pixel gaps."""
  n, height, width, channels = images.shape
  rows = -(-n // columns)
  grid = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.float32)
  for i, image in enumerate(images):
    r, c = divmod(i, columns)
    grid[1 + r * (height + 1):1 + r * (height + 1) + height,
         1 + c * (width + 1):1 + c * (width + 1) + width] = image
  grid = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
  return grid[..., 0] if channels == 1 else grid


CAPTION_HEIGHT = 12
AGREES, DISAGREES, LABEL = (40, 200, 40), (230, 40, 40), (160, 160, 160)


def captioned_pairs_grid(heldout, reconstructions, labels, classes, pairs_per_row):
  """x beside G(E(x)) in pairs, each pair captioned "label: class" under it.

  The caption gives x's true label and the reference classifier's class of
  G(E(x)), green when they agree and red when not. An RGB uint8 image.
  """
  from PIL import ImageDraw  # pylint: disable=g-import-not-at-top
  n, height, width, _ = heldout.shape
  side_by_side = np.stack([heldout, reconstructions], 1).reshape((-1,) + heldout.shape[1:])
  rows = -(-n // pairs_per_row)
  tile_rows = []
  for r in range(rows):
    row = image_grid(side_by_side[2 * r * pairs_per_row:2 * (r + 1) * pairs_per_row],
                     2 * pairs_per_row)
    row = np.broadcast_to(row[..., None], row.shape + (3,)) if row.ndim == 2 else row
    canvas = np.zeros((row.shape[0] + CAPTION_HEIGHT, 2 * pairs_per_row * (width + 1) + 1, 3),
                      np.uint8)
    canvas[:row.shape[0], :row.shape[1]] = row
    tile_rows.append(canvas)
  image = Image.fromarray(np.concatenate(tile_rows))
  draw = ImageDraw.Draw(image)
  for i, (label, predicted) in enumerate(zip(labels, classes)):
    r, c = divmod(i, pairs_per_row)
    top = r * (height + 2 + CAPTION_HEIGHT) + height + 2  # a row: gap, tiles, gap, caption
    left = 1 + 2 * c * (width + 1)
    draw.text((left + 2, top), f'{label}:', fill=LABEL)
    draw.text((left + width + 4, top), f'{predicted}',
              fill=AGREES if label == predicted else DISAGREES)
  return np.asarray(image)


def image_figures(arrays, *, step):
  """{name: PNG bytes}: samples.png, reconstructions.png (x beside G(E(x)); captioned
  with x's label and the class of G(E(x)) when the dataset has labels),
  interpolations.png."""
  del step  # eval.json and TensorBoard say the step
  figures = {'samples.png': image_grid(arrays['samples'], GRID_ROWS)}
  if 'reconstructions' in arrays:  # not for a GAN
    if 'reconstruction_classes' in arrays:
      figures['reconstructions.png'] = captioned_pairs_grid(
          arrays['heldout'], arrays['reconstructions'], arrays['heldout_labels'],
          arrays['reconstruction_classes'], GRID_ROWS // 2)
    else:
      side_by_side = np.stack([arrays['heldout'], arrays['reconstructions']], 1).reshape(
          (-1,) + arrays['heldout'].shape[1:])
      figures['reconstructions.png'] = image_grid(side_by_side, GRID_ROWS)
    figures['interpolations.png'] = image_grid(arrays['interpolations'], INTERPOLATION_STEPS)
  return {name: _png(grid) for name, grid in figures.items()}


def _png(grid):
  png = io.BytesIO()
  Image.fromarray(grid).save(png, format='png')
  return png.getvalue()


def class_references_for_run(config, dataset):
  """{split: ClassReferences} of the held-out splits ('validation', 'test') for a run on
  a labelled dataset (None for others, fake data, or config.evaluation.class_metrics=
  False); trains the reference classifier on the training split on first use."""
  from ali_jax import classifier as classifier_lib  # pylint: disable=g-import-not-at-top
  evaluation_config = config.get('evaluation', {})
  if (not evaluation_config.get('class_metrics', False)
      or not hasattr(dataset, 'labelled_training_images')
      or not datasets.SPECS[config.dataset].num_classes):
    return None
  spec = datasets.SPECS[config.dataset]
  train_images, train_labels = dataset.labelled_training_images(
      evaluation_config.reference_examples)
  test = lambda: (dataset.heldout(datasets.TEST).images, dataset.heldout(datasets.TEST).labels)
  classifier = classifier_lib.load_or_train(
      classifier_lib.cache_dir(datasets.default_data_dir(config), config.dataset,
                               spec.splits(config.data.carve_validation)['train']),
      num_classes=spec.num_classes, image_shape=dataset.data_shape,
      train_split=lambda: (train_images, train_labels), test_split=test)
  # Each split's references are made when an evaluation first reads that split, so
  # the test split's only at the final evaluation.
  return _ReferencesBySplit(lambda split: class_references(
      classifier, train_images, train_labels, dataset.heldout(split).images,
      dataset.heldout(split).labels))


class _ReferencesBySplit(dict):
  """{split: ClassReferences}, each made on first use."""

  def __init__(self, make):
    super().__init__()
    self._make = make

  def __missing__(self, split):
    self[split] = references = self._make(split)
    return references
