"""The reference classifier: it learns, it is cached, and a cache is reused."""
import json

import numpy as np
import pytest

from ali_jax.evaluation import classifier


def _split(count, seed):
  """8x8 images whose class (0..3) is where a bright square sits: learnable."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 4, count)
  images = rng.uniform(0, 0.3, (count, 8, 8, 1)).astype(np.float32)
  for i, label in enumerate(labels):
    row, column = divmod(int(label), 2)
    images[i, 4 * row:4 * row + 4, 4 * column:4 * column + 4] += 0.7
  return images, labels


def test_trains_caches_and_reuses(tmp_path):
  directory = tmp_path / 'cache'
  calls = []

  def train_split():
    calls.append('train')
    return _split(256, 0)

  model = classifier.load_or_train(str(directory), num_classes=4, image_shape=(8, 8, 1),
                                   train_split=train_split, test_split=lambda: _split(100, 1))
  assert model.test_accuracy > 0.95
  info = json.loads((directory / 'info.json').read_text())
  assert info['test_accuracy'] == model.test_accuracy and info['train_examples'] == 256
  images, labels = _split(50, 2)
  probabilities = model.probabilities(images)
  assert probabilities.shape == (50, 4)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
  assert model.features(images).shape == (50, 128)

  cached = classifier.load_or_train(
      str(directory), num_classes=4, image_shape=(8, 8, 1),
      train_split=lambda: calls.append('again'), test_split=lambda: calls.append('again'))
  assert calls == ['train']  # read from the cache, not retrained
  assert cached.test_accuracy == model.test_accuracy
  np.testing.assert_array_equal(cached.predict(images), model.predict(images))
  assert not list(tmp_path.glob('cache.tmp*'))
  # A damaged cache is named, with the fix, and left in place.
  (directory / 'params.msgpack').write_bytes(b'not msgpack')
  with pytest.raises(ValueError, match=f'{directory} does not read.*Delete that folder'):
    classifier.load_or_train(str(directory), num_classes=4, image_shape=(8, 8, 1),
                             train_split=None, test_split=None)
  assert (directory / 'info.json').exists()
