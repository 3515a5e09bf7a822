"""Image datasets: TFDS ArrayRecord data read with tfds.data_source, batched by grain.

Images are float32 in [0, 1], NHWC. A batch is a pure function of the step:
grain shuffles the training set afresh each epoch (from the run's seed) and
random access picks the step's examples, so a resumed run sees exactly the
batches an uninterrupted one would, without saving any iterator state. Each
process reads only its own contiguous share of every global batch, so several
hosts see together exactly what one host would.
"""
import itertools

from absl import logging
import grain
import numpy as np
from PIL import Image

from ali_jax.data import labelled as labelled_lib
from ali_jax.data.heldout import HeldOut
from ali_jax.settings import datasets

READ_THREADS = 8


def to_unit_images(images, spec):
  """uint8 (H, W, C) from TFDS -> float32 [0, 1] at the spec's size."""
  image = np.asarray(images)
  if spec.center_crop:
    top = (image.shape[0] - spec.center_crop) // 2
    left = (image.shape[1] - spec.center_crop) // 2
    image = image[top:top + spec.center_crop, left:left + spec.center_crop]
  if spec.square_crop:
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    image = image[top:top + side, left:left + side]
  if image.shape[:2] != (spec.image_size, spec.image_size):
    resized = Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).resize(
        (spec.image_size, spec.image_size), Image.BILINEAR)
    image = np.asarray(resized).reshape(spec.image_size, spec.image_size, -1)
  return image.astype(np.float32) / 255.0


def _attributes(example):
  """CelebA's 40 binary attributes as a float vector, in a fixed (sorted) order."""
  attributes = example['attributes']
  return np.array([float(attributes[k]) for k in sorted(attributes)], np.float32)


def _with_labelled(batches, labelled, start_step, global_batch_size, process_index,
                   process_count):
  """`batches` (from start_step on), each with its step's labelled batch if any."""
  if labelled is None:
    return batches
  return (dict(batch, **labelled.batch(step, global_batch_size=global_batch_size,
                                       process_index=process_index,
                                       process_count=process_count))
          for step, batch in zip(itertools.count(start_step), batches))


class ImageData:
  """Training batches and the held-out sets (validation, test) of one image dataset."""

  def __init__(self, settings, *, train_source, heldout_sources, labels_source=None):
    """settings: the run's run_settings.DataSettings. heldout_sources: {'validation':
    source, 'test': source}; labels_source: where the labelled methods draw their labels
    (the training source if None)."""
    self.spec = datasets.SPECS[settings.dataset]
    self.data_shape = (self.spec.image_size, self.spec.image_size, self.spec.channels)
    self.conditional = settings.condition_dim > 0
    self._train_source = train_source
    self._seed = settings.seed

    def example(record):
      out = {'x': to_unit_images(record['image'], self.spec)}
      if self.conditional:
        out['y'] = _attributes(record)
      return out

    self._example = example
    self._num_heldout = settings.num_heldout
    self._heldout_sources = heldout_sources
    self._heldout = {}
    source = train_source if labels_source is None else labels_source
    self.labelled = self._labelled_subset(settings, source) if settings.num_labels else None

  def heldout(self, split):
    """The HeldOut set of `split` ('validation' or 'test'): its first num_heldout images,
    read once."""
    if split not in self._heldout:
      source = self._heldout_sources[split]
      records = [source[i] for i in range(min(self._num_heldout, len(source)))]
      self._heldout[split] = HeldOut(
          np.stack([to_unit_images(r['image'], self.spec) for r in records]),
          np.stack([_attributes(r) for r in records]) if self.conditional else None,
          # Their classes, for the class-reading metrics (None: unlabelled).
          np.array([int(r['label']) for r in records], np.int64)
          if self.spec.num_classes else None)
    return self._heldout[split]

  def _labelled_subset(self, settings, source):
    """The labelled methods' examples (ali_jax/data/labelled.py), drawn from `source`."""
    if settings.num_labels > len(source):
      raise ValueError(f'config.method_options.num_labels={settings.num_labels} is more '
                       f'than the {len(source)} examples of the labelled split of '
                       f'{settings.dataset}: lower it.')
    walked = {}  # index -> record: the chosen ones are not read a second time
    indices = labelled_lib.balanced_subset(
        lambda i: walked.setdefault(i, source[i])['label'],
        len(source), num_labels=settings.num_labels,
        num_classes=self.spec.num_classes, seed=settings.labels_seed)
    records = [walked[int(i)] for i in indices]
    return labelled_lib.LabelledSubset(
        np.stack([to_unit_images(r['image'], self.spec) for r in records]),
        np.array([int(r['label']) for r in records], np.int32), seed=settings.seed)

  def first_images(self, count):
    """The first `count` training images (for the generator's initial output bias)."""
    return self.labelled_training_images(count)[0]

  def labelled_training_images(self, count):
    """(images, labels or None) of the first `count` training examples."""
    records = [self._train_source[i] for i in range(min(count, len(self._train_source)))]
    images = np.stack([to_unit_images(r['image'], self.spec) for r in records])
    labels = (np.array([int(r['label']) for r in records], np.int64)
              if self.spec.num_classes else None)
    return images, labels

  def batches(self, start_step, *, global_batch_size, process_index=0, process_count=1):
    """This process's share of the global batch for each step from `start_step` on."""
    share = global_batch_size // process_count
    examples = (grain.MapDataset.source(self._train_source).seed(self._seed).shuffle()
                .repeat(None).map(self._example).batch(share, drop_remainder=True))
    # Process p's share of step s is share-batch number s * process_count + p.
    mine = examples[start_step * process_count + process_index::process_count]
    unlabelled = iter(mine.to_iter_dataset(grain.ReadOptions(
        num_threads=READ_THREADS, prefetch_buffer_size=2 * READ_THREADS)))
    return _with_labelled(unlabelled, self.labelled, start_step, global_batch_size,
                          process_index, process_count)


class FakeImageData:
  """Uniform random images of the right shape: for benchmarks and smoke tests only."""

  def __init__(self, settings):
    """settings: the run's run_settings.DataSettings."""
    data_shape = settings.shape
    logging.warning('=' * 72 + '\nconfig.data_source=fake: training on RANDOM NOISE '
                    'images %s. Numbers from this run say nothing about %s.\n' + '=' * 72,
                    data_shape, settings.dataset)
    self.data_shape = data_shape
    self.conditional = settings.condition_dim > 0
    self._condition_dim = settings.condition_dim
    self._seed = settings.seed
    rng = np.random.default_rng([settings.seed, 99])
    # One set of noise stands for every held-out split; noise has no classes.
    self._noise = HeldOut(
        rng.uniform(size=(settings.num_heldout,) + data_shape).astype(np.float32),
        rng.integers(0, 2, (settings.num_heldout, self._condition_dim)).astype(np.float32)
        if self.conditional else None, None)
    # The labelled methods' step also takes noise, labelled with random classes.
    num_labels = settings.num_labels
    self.labelled = labelled_lib.LabelledSubset(
        rng.uniform(size=(num_labels,) + data_shape).astype(np.float32),
        rng.integers(0, datasets.SPECS[settings.dataset].num_classes,
                     num_labels).astype(np.int32),
        seed=settings.seed) if num_labels else None

  def heldout(self, split):
    del split
    return self._noise

  def first_images(self, count):
    return self._noise.images[:count]

  def batches(self, start_step, *, global_batch_size, process_index=0, process_count=1):
    return _with_labelled(self._unlabelled_batches(start_step, global_batch_size,
                                                   process_index, process_count),
                          self.labelled, start_step, global_batch_size, process_index,
                          process_count)

  def _unlabelled_batches(self, start_step, global_batch_size, process_index, process_count):
    share = global_batch_size // process_count
    step = start_step
    while True:
      rng = np.random.default_rng([self._seed, step, process_index])
      batch = {'x': rng.uniform(size=(share,) + self.data_shape).astype(np.float32)}
      if self.conditional:
        batch['y'] = rng.integers(0, 2, (share, self._condition_dim)).astype(np.float32)
      yield batch
      step += 1
