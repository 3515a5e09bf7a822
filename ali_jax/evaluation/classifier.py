"""A reference classifier per labelled image dataset, for metrics that read meaning.

Papers on small datasets score samples with a classifier trained on the data
itself (the ALICE paper's MNIST-classifier Inception Score), since no wheel
ships Inception's weights. This one is a small conv net trained once on (up to
`max_examples` of) the training split's labels, then cached beside the
prepared data with its own held-out accuracy, so that readers can weigh the
metrics it makes (ali_jax/evaluation/).
"""
import json
import os
import re
import shutil
import time

from absl import logging
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

# Bump when the network or its training changes: cached classifiers of another
# version are retrained rather than silently reused.
VERSION = 1
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
EPOCHS = 5
PROGRESS_EVERY_STEPS = 200  # a log line this often while it trains
MIN_STEPS, MAX_STEPS = 200, 3_000
PREDICT_CHUNK = 1_000


class ConvClassifier(nn.Module):
  """Two 3x3 conv + max-pool blocks, a 128-unit hidden layer (the features), logits."""
  num_classes: int

  @nn.compact
  def __call__(self, x):
    h = x
    for width in (32, 64):
      h = nn.relu(nn.Conv(width, (3, 3))(h))
      h = nn.max_pool(h, (2, 2), strides=(2, 2))
    features = nn.relu(nn.Dense(128)(h.reshape(h.shape[0], -1)))
    return nn.Dense(self.num_classes)(features), features


def training_steps(num_examples):
  """EPOCHS epochs of the training images, within [MIN_STEPS, MAX_STEPS]."""
  return int(np.clip(EPOCHS * num_examples // BATCH_SIZE, MIN_STEPS, MAX_STEPS))


def train(images, labels, num_classes, *, seed=0):
  """Parameters of a ConvClassifier fitted to (images, labels) with Adam."""
  model = ConvClassifier(num_classes)
  params = model.init(jax.random.PRNGKey(seed), images[:1])['params']
  optimizer = optax.adam(LEARNING_RATE)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    def loss_fn(params):
      logits, _ = model.apply({'params': params}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(seed)
  batch = min(BATCH_SIZE, len(images))
  order, position = rng.permutation(len(images)), 0
  num_steps, start = training_steps(len(images)), time.time()
  for i in range(num_steps):
    if position + batch > len(order):
      order, position = rng.permutation(len(images)), 0
    rows = order[position:position + batch]
    position += batch
    params, opt_state, loss = step(params, opt_state, images[rows], labels[rows])
    if (i + 1) % PROGRESS_EVERY_STEPS == 0 or i + 1 == num_steps:  # minutes on a CPU
      elapsed = time.time() - start
      logging.info('Reference classifier: step %d/%d, loss %.3f, %.0f s, about %.0f s left.',
                   i + 1, num_steps, float(loss), elapsed, elapsed / (i + 1) * (num_steps - i - 1))
  return params


class ReferenceClassifier:
  """p(y | x) and penultimate features of a trained ConvClassifier, on numpy arrays."""

  def __init__(self, params, num_classes, test_accuracy=None):
    self.params = params
    self.num_classes = num_classes
    self.test_accuracy = test_accuracy
    model = ConvClassifier(num_classes)
    self._apply = jax.jit(lambda params, x: model.apply({'params': params}, x))

  def outputs(self, images):
    """(p(y | x), the 128 penultimate activations) of `images`, in one pass."""
    probabilities, features = [], []
    for start in range(0, len(images), PREDICT_CHUNK):
      chunk_logits, chunk_features = self._apply(self.params,
                                                 images[start:start + PREDICT_CHUNK])
      probabilities.append(np.asarray(jax.nn.softmax(chunk_logits, axis=-1)))
      features.append(np.asarray(chunk_features))
    return np.concatenate(probabilities), np.concatenate(features)

  def probabilities(self, images):
    """p(y | x), (n, num_classes)."""
    return self.outputs(images)[0]

  def predict(self, images):
    return self.probabilities(images).argmax(axis=-1)

  def features(self, images):
    """The 128 penultimate activations (for the Frechet distance), (n, 128)."""
    return self.outputs(images)[1]

  def accuracy(self, images, labels):
    return float(np.mean(self.predict(images) == labels))


def cache_dir(data_dir, dataset, train_split='train'):
  """Where the classifier of `dataset` prepared in `data_dir`, trained on `train_split`
  (TFDS syntax), is cached: one per training split, so a run's classifier never saw
  its validation images."""
  tag = '' if train_split == 'train' else '_' + re.sub(r'[^0-9a-z]+', '_', train_split).strip('_')
  return os.path.join(data_dir, 'ali_jax_classifiers', f'{dataset}{tag}_v{VERSION}')


def load_or_train(directory, *, num_classes, image_shape, train_split, test_split):
  """The reference classifier cached in `directory`, or one trained and cached there.

  train_split and test_split are callables giving (images, labels); they are
  only called when the classifier has to be trained.
  """
  info_path = os.path.join(directory, 'info.json')
  if os.path.exists(info_path):
    template = ConvClassifier(num_classes).init(
        jax.random.PRNGKey(0), jnp.zeros((1,) + tuple(image_shape)))['params']
    try:
      with open(info_path) as f:
        info = json.load(f)
      with open(os.path.join(directory, 'params.msgpack'), 'rb') as f:
        params = flax.serialization.from_bytes(template, f.read())
      return ReferenceClassifier(params, num_classes, info['test_accuracy'])
    except Exception as error:  # pylint: disable=broad-except  (json, msgpack, shapes)
      raise ValueError(
          f'The cached reference classifier in {directory} does not read '
          f'({type(error).__name__}: {str(error)[:200]}). Delete that folder: the next run '
          'trains it again (a few minutes).') from None

  train_images, train_labels = train_split()
  logging.info('Training a reference classifier on %d labelled images (once; cached in '
               '%s).', len(train_images), directory)
  params = train(train_images, train_labels, num_classes)
  classifier = ReferenceClassifier(params, num_classes)
  test_images, test_labels = test_split()
  classifier.test_accuracy = classifier.accuracy(test_images, test_labels)
  logging.info('Reference classifier: %.2f %% test accuracy.', 100 * classifier.test_accuracy)
  info = dict(version=VERSION, test_accuracy=classifier.test_accuracy,
              train_examples=len(train_images), test_examples=len(test_images),
              steps=training_steps(len(train_images)), batch_size=BATCH_SIZE,
              learning_rate=LEARNING_RATE)
  # Written to a temporary folder and renamed: a half-written cache is never read.
  temporary = f'{directory}.tmp{os.getpid()}'
  os.makedirs(temporary, exist_ok=True)
  with open(os.path.join(temporary, 'params.msgpack'), 'wb') as f:
    f.write(flax.serialization.to_bytes(params))
  with open(os.path.join(temporary, 'info.json'), 'w') as f:
    json.dump(info, f, indent=2)
  try:
    os.rename(temporary, directory)
  except OSError:  # another process cached one first: keep theirs
    shutil.rmtree(temporary, ignore_errors=True)
  return classifier
