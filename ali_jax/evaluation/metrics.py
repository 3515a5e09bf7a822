"""The evaluation's numbers: mixture coverage, Frechet distances, class metrics.

Functions of samples, reconstructions, latents and references (the class metrics also
read the model's features and the reference classifier's verdicts); docs/metrics.md says
what each means, and evaluator.py feeds them from a model.
"""
from typing import Any, NamedTuple

import numpy as np

from ali_jax.data import mixture

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


def class_agreement(predicted, labels):
  """The share of images whose predicted class is their label."""
  return float(np.mean(predicted == labels))


def inference_class_metrics(model, heldout, reconstructions, references):
  """Whether G(E(x)) keeps x's class, and E(x) as a 1-NN representation (BiGAN's
  protocol; E(x) is the encoder's mean, without noise).

  Returns (metrics, the classifier's class of each reconstruction).
  """
  predicted = references.classifier.predict(reconstructions)
  train_features = model.features(references.train_images, hidden_layers=0)
  heldout_features = model.features(heldout, hidden_layers=0)
  return {
      'reconstruction_class_agreement': class_agreement(predicted, references.heldout_labels),
      'encoder_1nn_accuracy': nearest_neighbour_accuracy(
          train_features, references.train_labels, heldout_features,
          references.heldout_labels),
      'pixel_1nn_accuracy': references.pixel_1nn_accuracy,
  }, predicted
