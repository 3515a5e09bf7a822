"""The paper's L2-SVM protocol on encoder features (docs/papers.md section 5), as functions.

Used by experiments/semi_supervised.py (one table of encoders) and
experiments/semi_supervised_comparison.py (beside K+1 ALI).
"""
import time
import warnings

from absl import logging
import numpy as np
from sklearn import exceptions as sklearn_exceptions
from sklearn import svm

from ali_jax import data
from ali_jax.evaluation import metrics
from ali_jax.settings import datasets

# dataset -> (label pool, validation split for C, test split, labels per SVM): the
# dataset's own splits (ali_jax/settings/datasets.py), labels drawn where its labelled
# methods draw them, C chosen on the validation split, the test split read once.
LABELS_PER_SVM = {'svhn': 1000, 'digits': 100, 'fashion_mnist': 1000}
SPLITS = {name: (datasets.SPECS[name].labels_split or datasets.SPECS[name].train_split,
                 datasets.SPECS[name].validation_split, datasets.SPECS[name].test_split, labels)
          for name, labels in LABELS_PER_SVM.items()}


def class_balanced_subset(labels, count, rng):
  """Indices of `count` examples, count / num_classes of each class, drawn at random."""
  classes = np.unique(labels)
  if count % len(classes):
    raise ValueError(f'--labels={count} is not a multiple of the {len(classes)} classes.')
  per_class = count // len(classes)
  return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                         for c in classes])


def span_coordinates(train, *others):
  """Every array's rows in an orthonormal basis of the span of `train`'s rows.

  A constant feature is appended first. An L2-regularised linear SVM's weights
  lie in the span of its training inputs, so it learns the same classifier on
  these coordinates (the regularised constant playing liblinear's intercept)
  at the cost of n_train instead of thousands of features.
  """
  with_one = lambda a: np.concatenate([a, np.ones((len(a), 1), a.dtype)], axis=1)
  basis, _ = np.linalg.qr(with_one(train).T.astype(np.float64))
  return [with_one(a) @ basis for a in (train,) + others]


def svm_test_errors(features, labels, *, num_labels, num_svms, c_values, seed):
  """Test error of each SVM: C picked on the validation split, per label subset.

  features, labels: dicts with 'pool', 'valid' and 'test' arrays.
  """
  rng = np.random.default_rng(seed)
  errors = []
  started = time.time()
  for index in range(num_svms):
    subset = class_balanced_subset(labels['pool'], num_labels, rng)
    train, valid, test = span_coordinates(features['pool'][subset], features['valid'],
                                          features['test'])
    best_error, best_model, best_c = np.inf, None, None
    for c in c_values:
      model = svm.LinearSVC(C=c, loss='squared_hinge', fit_intercept=False).fit(
          train, labels['pool'][subset])
      error = np.mean(model.predict(valid) != labels['valid'])
      if error < best_error:
        best_error, best_model, best_c = error, model, c
    errors.append(np.mean(best_model.predict(test) != labels['test']))
    elapsed = time.time() - started  # a few minutes each on raw pixels: say how far it is
    logging.info('L2-SVM %d/%d on %d labels: C=%g, validation error %.4f; %.0f s, about '
                 '%.0f s left.', index + 1, num_svms, num_labels, best_c, best_error,
                 elapsed, elapsed / (index + 1) * (num_svms - index - 1))
  return np.array(errors)


def nearest_neighbour_accuracy(features, labels):
  """1-NN test accuracy with the whole label pool as neighbours (Euclidean)."""
  return metrics.nearest_neighbour_accuracy(features['pool'], labels['pool'],
                                               features['test'], labels['test'])


def labelled_splits(config):
  """({'pool'|'valid'|'test': images}, {...: labels}) of config.dataset's SPLITS."""
  images, labels = {}, {}
  for part, split in zip(('pool', 'valid', 'test'), SPLITS[config.dataset][:3]):
    images[part], labels[part] = data.labelled_split(config, split)
  return images, labels


def mean_test_error(features, labels, *, num_labels, num_svms, c_values, seed):
  """The mean of svm_test_errors, liblinear's convergence warnings silenced (it
  stops at max_iter for the largest values of C, as the protocol expects)."""
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', sklearn_exceptions.ConvergenceWarning)
    return float(svm_test_errors(features, labels, num_labels=num_labels, num_svms=num_svms,
                                 c_values=c_values, seed=seed).mean())
