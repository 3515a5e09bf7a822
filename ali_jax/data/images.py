"""Image datasets: TFDS ArrayRecord data read with tfds.data_source, batched by grain.

Images are float32 in [0, 1], NHWC. A batch is a pure function of the step:
grain shuffles the training set afresh each epoch (from the run's seed) and
random access picks the step's examples, so a resumed run sees exactly the
batches an uninterrupted one would, without saving any iterator state. Each
process reads only its own contiguous share of every global batch, so several
hosts see together exactly what one host would.
"""
import dataclasses
import itertools
import os
from typing import Optional

from absl import logging
import grain
import numpy as np
from PIL import Image

from ali_jax.data import labelled as labelled_lib

READ_THREADS = 8


@dataclasses.dataclass(frozen=True)
class ImageDatasetSpec:
  tfds_name: str
  train_split: str
  heldout_split: str
  image_size: int
  channels: int
  center_crop: Optional[int] = None  # crop a centred square this big, then resize
  # Images of many sizes (ImageNet): crop the centred square of the shorter side, then resize.
  square_crop: bool = False
  how_to_prepare: str = ''
  # Classes of the 'label' feature that the class-reading metrics use
  # (ali_jax/classifier.py); 0: no such metrics.
  num_classes: int = 0


_BUILD = ('pip install tensorflow-cpu  # preparing stock TFDS datasets needs TensorFlow\n'
          '  tfds build {name} --data_dir={data_dir} --file_format=array_record')

SPECS = {
    # The paper trains on SVHN's `extra` split (531,131 images).
    'svhn': ImageDatasetSpec('svhn_cropped', 'extra', 'test', 32, 3,
                             how_to_prepare=_BUILD, num_classes=10),
    # The paper's code: train[0:45000], validation train[45000:].
    'cifar10': ImageDatasetSpec('cifar10', 'train[:45000]', 'train[45000:]', 32, 3,
                                how_to_prepare=_BUILD, num_classes=10),
    # 218x178 aligned faces: the centred 108x108 square, resized to 64x64.
    'celeba': ImageDatasetSpec(
        'celeb_a', 'train', 'validation', 64, 3, center_crop=108,
        how_to_prepare=(
            'CelebA\'s automatic download is often refused. Put the five files named in '
            "tfds's celeb_a checksums.tsv (img_align_celeba.zip, list_eval_partition.txt, "
            'list_attr_celeba.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt) '
            'into a folder M, then:\n  pip install tensorflow-cpu\n'
            '  tfds build celeb_a --data_dir={data_dir} --manual_dir=M '
            '--file_format=array_record')),
    # Full ImageNet (ILSVRC2012) at 128x128, for BigBiGAN (configs/bigbigan_imagenet128.py).
    'imagenet128': ImageDatasetSpec(
        'imagenet2012', 'train', 'validation', 128, 3, square_crop=True, num_classes=1000,
        how_to_prepare=('Download ILSVRC2012 into a folder M (it needs a licence), then:\n'
                        '  pip install tensorflow-cpu\n  tfds build imagenet2012 '
                        '--data_dir={data_dir} --manual_dir=M --file_format=array_record')),
    # Downsampled ImageNet (Chrabaszcz et al. 2017); the paper centre-crops
    # before downsampling, this builder resizes whole images.
    'imagenet64': ImageDatasetSpec(
        'imagenet_resized/64x64', 'train', 'validation', 64, 3,
        how_to_prepare=('Download ILSVRC2012 into a folder M (it needs a licence), then:\n'
                        '  pip install tensorflow-cpu\n  tfds build imagenet_resized/64x64 '
                        '--data_dir={data_dir} --manual_dir=M --file_format=array_record')),
    # BiGAN's permutation-invariant experiments (configs/bigan_mnist_mlp.py).
    'mnist': ImageDatasetSpec('mnist', 'train', 'test', 28, 1, how_to_prepare=_BUILD,
                              num_classes=10),
    # scikit-learn's digits (shipped, no download): prepared automatically.
    'digits': ImageDatasetSpec('sklearn_digits', 'train', 'test', 32, 1, num_classes=10),
    # Prepared automatically from the original files in config.data.manual_dir
    # (ali_jax/data/fashion_mnist_builder.py).
    'fashion_mnist': ImageDatasetSpec('fashion_mnist', 'train', 'test', 28, 1,
                                      num_classes=10),
}

CELEBA_ATTRIBUTES = 40


def default_data_dir(config):
  return config.data.data_dir or os.path.expanduser('~/tensorflow_datasets')


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


def _num_labels(config):
  return config.method_options.get('num_labels', 0)


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
  """Training batches and a held-out set of one image dataset."""

  def __init__(self, config, *, train_source, heldout_source):
    self.spec = SPECS[config.dataset]
    self.data_shape = (self.spec.image_size, self.spec.image_size, self.spec.channels)
    self.conditional = config.model.condition_dim > 0
    self._train_source = train_source
    self._seed = config.seed

    def example(record):
      out = {'x': to_unit_images(record['image'], self.spec)}
      if self.conditional:
        out['y'] = _attributes(record)
      return out

    self._example = example
    count = min(config.data.num_heldout, len(heldout_source))
    records = [heldout_source[i] for i in range(count)]
    self.heldout = np.stack([to_unit_images(r['image'], self.spec) for r in records])
    self.heldout_conditions = (np.stack([_attributes(r) for r in records])
                               if self.conditional else None)
    # The held-out images' classes, for the class-reading metrics (None: unlabelled).
    self.heldout_labels = (np.array([int(r['label']) for r in records], np.int64)
                           if self.spec.num_classes else None)
    self.labelled = self._labelled_subset(config) if _num_labels(config) else None

  def _labelled_subset(self, config):
    """The labelled methods' examples (ali_jax/data/labelled.py)."""
    options = config.method_options
    if options.num_labels > len(self._train_source):
      raise ValueError(f'config.method_options.num_labels={options.num_labels} is more than '
                       f'the {len(self._train_source)} examples of the training split of '
                       f'{config.dataset}: lower it.')
    walked = {}  # index -> record: the chosen ones are not read a second time
    indices = labelled_lib.balanced_subset(
        lambda i: walked.setdefault(i, self._train_source[i])['label'],
        len(self._train_source), num_labels=options.num_labels,
        num_classes=self.spec.num_classes, seed=options.labels_seed)
    records = [walked[int(i)] for i in indices]
    return labelled_lib.LabelledSubset(
        np.stack([to_unit_images(r['image'], self.spec) for r in records]),
        np.array([int(r['label']) for r in records], np.int32), seed=config.seed)

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

  def __init__(self, config, data_shape):
    logging.warning('=' * 72 + '\nconfig.data_source=fake: training on RANDOM NOISE '
                    'images %s. Numbers from this run say nothing about %s.\n' + '=' * 72,
                    data_shape, config.dataset)
    self.data_shape = data_shape
    self.conditional = config.model.condition_dim > 0
    self._condition_dim = config.model.condition_dim
    self._seed = config.seed
    rng = np.random.default_rng([config.seed, 99])
    self.heldout = rng.uniform(size=(config.data.num_heldout,) + data_shape).astype(np.float32)
    self.heldout_conditions = (rng.integers(0, 2, (config.data.num_heldout,
                                                   self._condition_dim)).astype(np.float32)
                               if self.conditional else None)
    self.heldout_labels = None  # noise has no classes
    # The labelled methods' step also takes noise, labelled with random classes.
    num_labels = _num_labels(config)
    self.labelled = labelled_lib.LabelledSubset(
        rng.uniform(size=(num_labels,) + data_shape).astype(np.float32),
        rng.integers(0, SPECS[config.dataset].num_classes, num_labels).astype(np.int32),
        seed=config.seed) if num_labels else None

  def first_images(self, count):
    return self.heldout[:count]

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
