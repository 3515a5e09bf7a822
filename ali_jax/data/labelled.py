"""The labelled examples of the semi-supervised methods, and their batches.

The labelled subset is `num_labels` training examples, num_labels / K of each
of the K classes, found by walking a permutation of the training split drawn
from `labels_seed`: a pure function of (split, num_labels, labels_seed), so
every host picks the same subset and a resumed run picks it again. Like the
unlabelled batches, the labelled batch of a step is a pure function of the
step (each pass over the subset is a fresh permutation of it), and each
process takes its own contiguous share of it.
"""
import numpy as np

ORDER_STREAM = 0x1AB  # beside the run's seed: the labelled batches' order


class NotEnoughLabels(ValueError):
  """A class has fewer training examples than the balanced subset asks for."""


def balanced_subset(label_of, num_examples, *, num_labels, num_classes, seed):
  """Indices of num_labels / num_classes examples of each class, in the order found.

  label_of(i) -> the class of training example i; only as many examples are
  read as the walk needs (all of them only if a class runs short).
  """
  per_class = num_labels // num_classes
  taken = {c: [] for c in range(num_classes)}
  missing = num_labels
  for index in np.random.default_rng(seed).permutation(num_examples):
    label = int(label_of(int(index)))
    if len(taken[label]) < per_class:
      taken[label].append(int(index))
      missing -= 1
      if not missing:
        return np.array([i for c in range(num_classes) for i in taken[c]], np.int64)
  short = {c: len(v) for c, v in taken.items() if len(v) < per_class}
  raise NotEnoughLabels(
      f'config.method_options.num_labels={num_labels} asks for {per_class} examples of each '
      f'of the {num_classes} classes, but the training split has only {short} '
      '(class: examples) of some: lower num_labels.')


def batch_positions(step, global_batch_size, subset_size, seed):
  """Positions in the subset of the global labelled batch at `step`.

  The batches walk an endless stream of permutations of the subset, one per
  pass (pass e drawn from [seed, ORDER_STREAM, e]); a batch larger than the
  subset spans several passes.
  """
  stream = np.arange(step * global_batch_size, (step + 1) * global_batch_size)
  passes, offsets = np.divmod(stream, subset_size)
  positions = np.empty_like(stream)
  for e in np.unique(passes):
    order = np.random.default_rng([seed, ORDER_STREAM, int(e)]).permutation(subset_size)
    positions[passes == e] = order[offsets[passes == e]]
  return positions


class LabelledSubset:
  """The labelled images and labels, held in memory, and their batches."""

  def __init__(self, images, labels, *, seed):
    self.images = images
    self.labels = labels
    self._seed = seed

  def batch(self, step, *, global_batch_size, process_index=0, process_count=1):
    """This process's share of the labelled batch at `step`: x_labelled and label."""
    positions = batch_positions(step, global_batch_size, len(self.labels), self._seed)
    share = global_batch_size // process_count
    mine = positions[process_index * share:(process_index + 1) * share]
    return {'x_labelled': self.images[mine], 'label': self.labels[mine]}
