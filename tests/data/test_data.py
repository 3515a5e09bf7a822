"""The 2-D mixture and its batches; every dataset's splits."""
import re

import numpy as np
import pytest

from ali_jax.data import mixture
from ali_jax.settings import datasets


def test_mixture_is_the_papers():
  assert mixture.CENTRES.shape == (25, 2)
  assert sorted(set(mixture.CENTRES[:, 0])) == [-4, -2, 0, 2, 4]
  points, components = mixture.sample(np.random.default_rng(0), 50_000)
  offsets = points - mixture.CENTRES[components]
  np.testing.assert_allclose(offsets.std(axis=0), mixture.STD, rtol=0.03)
  shares = np.bincount(components, minlength=25) / len(components)
  np.testing.assert_allclose(shares, 1 / 25, atol=0.005)
  assigned, _ = mixture.assign_components(points)
  np.testing.assert_array_equal(assigned, components)


def test_training_set_follows_the_seed_and_heldout_is_fixed():
  a = mixture.MixtureData(seed=0, num_train=1000, num_heldout=100)
  b = mixture.MixtureData(seed=1, num_train=1000, num_heldout=100)
  assert not np.array_equal(a.train, b.train)
  for split in ('validation', 'test'):
    np.testing.assert_array_equal(a.heldout(split).images, b.heldout(split).images)
  # Validation and test are different fresh samples.
  assert not np.array_equal(a.heldout('validation').images, a.heldout('test').images)
  np.testing.assert_array_equal(
      a.train, mixture.MixtureData(seed=0, num_train=1000, num_heldout=100).train)


def test_batches_are_a_function_of_the_step_and_cover_each_epoch():
  dataset = mixture.MixtureData(seed=0, num_train=1000, num_heldout=10)
  epoch = np.concatenate([dataset.global_batch_indices(s, 100, seed=0) for s in range(10)])
  np.testing.assert_array_equal(np.sort(epoch), np.arange(1000))
  next_epoch = dataset.global_batch_indices(10, 100, seed=0)
  assert not np.array_equal(next_epoch, epoch[:100])
  fresh = mixture.MixtureData(seed=0, num_train=1000, num_heldout=10)
  np.testing.assert_array_equal(fresh.global_batch_indices(3, 100, seed=0), epoch[300:400])


def test_process_shares_make_up_the_global_batch():
  dataset = mixture.MixtureData(seed=0, num_train=1000, num_heldout=10)
  whole = dataset.train_batch(5, global_batch_size=64, seed=0)['x']
  shares = [dataset.train_batch(5, global_batch_size=64, seed=0, process_index=p,
                                process_count=4)['x'] for p in range(4)]
  assert all(len(s) == 16 for s in shares)
  np.testing.assert_array_equal(np.concatenate(shares), whole)


def _slice(split):
  """(base split, start, stop) of TFDS split syntax 'name[a:b]' or 'name' (whole)."""
  match = re.fullmatch(r'(\w+)(?:\[(\d*):(\d*)\])?', split)
  assert match, split
  name, start, stop = match.groups()
  return name, int(start or 0), int(stop) if stop else float('inf')


@pytest.mark.parametrize('dataset', sorted(datasets.SPECS))
def test_validation_is_never_trained_on_and_test_is_its_own_split(dataset):
  splits = datasets.SPECS[dataset].splits(carve_validation=True)
  train, validation, test = (_slice(splits[part]) for part in ('train', 'validation', 'test'))
  labels = _slice(splits['labels'])
  for part in (train, labels):
    if part[0] == validation[0]:  # carved from one split: the slices must not overlap
      assert part[2] <= validation[1] or validation[2] <= part[1], (part, validation)
  assert test[0] not in (train[0], validation[0], labels[0])
  # Runs made before validation was carved keep their data when they resume.
  before = datasets.SPECS[dataset].splits(carve_validation=False)
  assert before['validation'] == before['test']
