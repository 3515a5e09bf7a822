"""The 2-D mixture and its batches."""
import numpy as np

from ali_jax.data import mixture


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
  np.testing.assert_array_equal(a.heldout, b.heldout)
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
