"""The paper's 2-D mixture: 25 Gaussians on {-4,-2,0,2,4}^2, std 0.05, equal weights.

Training points come from the run's seed; the held-out set comes from a fixed
seed, so runs with different seeds are scored on the same points.
"""
import numpy as np

from ali_jax.data.heldout import HeldOut
from ali_jax.settings import datasets

GRID = (-4.0, -2.0, 0.0, 2.0, 4.0)
STD = 0.05
HELDOUT_SEED = 1606_00704  # the ALI paper's arXiv number: any fixed value would do
VALIDATION_SEED = HELDOUT_SEED + 1  # the validation points: another fresh sample

CENTRES = np.array([(a, b) for a in GRID for b in GRID], np.float32)


def sample(rng, num_points):
  """Returns (points (n, 2) float32, component index (n,) int) drawn with `rng`."""
  components = rng.integers(len(CENTRES), size=num_points)
  points = CENTRES[components] + STD * rng.standard_normal((num_points, 2))
  return points.astype(np.float32), components


def assign_components(points):
  """Index of the component with the highest responsibility for each point.

  The components share weight and an isotropic std, so the highest
  responsibility is the nearest centre.
  """
  distances = np.linalg.norm(points[:, None, :] - CENTRES[None], axis=-1)
  return distances.argmin(axis=1), distances.min(axis=1)


class MixtureData:
  """The mixture's training and held-out sets."""

  data_shape = datasets.MIXTURE_SHAPE

  def __init__(self, *, seed, num_train, num_heldout):
    self._seed = seed
    self.train, _ = sample(np.random.default_rng([seed, 25]), num_train)
    # Held-out points: fresh samples, test from HELDOUT_SEED, validation from another.
    # (No conditions: the mixture has no conditional variant; no labels.)
    self._heldout = {
        split: HeldOut(sample(np.random.default_rng(sample_seed), num_heldout)[0], None, None)
        for split, sample_seed in (('test', HELDOUT_SEED), ('validation', VALIDATION_SEED))}
    self._epoch_order = (None, None)  # (epoch, permutation): one shuffle per epoch

  def heldout(self, split):
    """The HeldOut points of `split` ('validation' or 'test')."""
    return self._heldout[split]

  def global_batch_indices(self, step, global_batch_size, seed):
    """The training indices of the global batch at `step`, a pure function of it.

    Each epoch is a fresh permutation; the last incomplete batch of an epoch is
    dropped. Because the order depends on the step alone, a resumed run sees
    exactly the batches that an uninterrupted one would.
    """
    steps_per_epoch = len(self.train) // global_batch_size
    epoch, position = divmod(step, steps_per_epoch)
    if self._epoch_order[0] != (seed, epoch):
      order = np.random.default_rng([seed, 7, epoch]).permutation(len(self.train))
      self._epoch_order = ((seed, epoch), order)
    order = self._epoch_order[1]
    return order[position * global_batch_size:(position + 1) * global_batch_size]

  def train_batch(self, step, *, global_batch_size, seed, process_index=0,
                  process_count=1):
    """This process's contiguous share of the global batch at `step`."""
    indices = self.global_batch_indices(step, global_batch_size, seed)
    share = global_batch_size // process_count
    mine = indices[process_index * share:(process_index + 1) * share]
    return {'x': self.train[mine]}

  def batches(self, start_step, *, global_batch_size, process_index=0, process_count=1):
    """train_batch for each step from `start_step` on."""
    step = start_step
    while True:
      yield self.train_batch(step, global_batch_size=global_batch_size, seed=self._seed,
                             process_index=process_index, process_count=process_count)
      step += 1
