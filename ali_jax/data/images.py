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
from typing import Optional, Tuple

from absl import logging
import grain
import numpy as np
from PIL import Image

from ali_jax.data import labelled as labelled_lib
from ali_jax.data.heldout import HeldOut

READ_THREADS = 8


@dataclasses.dataclass(frozen=True)
class ImageDatasetSpec:
  """Where a dataset's images come from (TFDS split syntax for each part).

  train_split: what the networks train on; validation_split: what every choice
  (settings, C, weight decay, early looks) is made on, carved from the training
  data where the dataset has no validation split of its own and never trained on;
  test_split: read once, for the reported numbers.
  """
  tfds_name: str
  train_split: str
  validation_split: str
  test_split: str
  image_size: int
  channels: int
  center_crop: Optional[int] = None  # crop a centred square this big, then resize
  # Images of many sizes (ImageNet): crop the centred square of the shorter side, then resize.
  square_crop: bool = False
  how_to_prepare: str = ''
  # Classes of the 'label' feature that the class-reading metrics use
  # (ali_jax/classifier.py); 0: no such metrics.
  num_classes: int = 0
  # Where the labelled methods' labels are drawn (None: the training split).
  labels_split: Optional[str] = None
  # (training, held-out) splits of runs made before validation was carved out of the
  # training data (config.data.carve_validation=False): every evaluation read the
  # held-out one. None: the same as (train_split, test_split).
  before_validation: Optional[Tuple[str, str]] = None

  def splits(self, carve_validation):
    """{'train', 'validation', 'test', 'labels'}: the TFDS split of each part."""
    if carve_validation:
      return dict(train=self.train_split, validation=self.validation_split,
                  test=self.test_split, labels=self.labels_split or self.train_split)
    train, heldout = self.before_validation or (self.train_split, self.test_split)
    return dict(train=train, validation=heldout, test=heldout, labels=train)


_BUILD = ('pip install tensorflow-cpu  # preparing stock TFDS datasets needs TensorFlow\n'
          '  tfds build {name} --data_dir={data_dir} --file_format=array_record')

SPECS = {
    # The paper trains on SVHN's `extra` split (531,131 images); Salimans et al.
    # draw the semi-supervised labels from `train`, whose last 10,000 validate.
    'svhn': ImageDatasetSpec('svhn_cropped', 'extra', 'train[63257:]', 'test', 32, 3,
                             how_to_prepare=_BUILD, num_classes=10,
                             labels_split='train[:63257]', before_validation=('extra', 'test')),
    # The paper's code: train[0:45000], validation train[45000:].
    'cifar10': ImageDatasetSpec('cifar10', 'train[:45000]', 'train[45000:]', 'test', 32, 3,
                                how_to_prepare=_BUILD, num_classes=10,
                                before_validation=('train[:45000]', 'train[45000:]')),
    # 218x178 aligned faces: the centred 108x108 square, resized to 64x64.
    'celeba': ImageDatasetSpec(
        'celeb_a', 'train', 'validation', 'test', 64, 3, center_crop=108,
        before_validation=('train', 'validation'),
        how_to_prepare=(
            'CelebA\'s automatic download is often refused. Put the five files named in '
            "tfds's celeb_a checksums.tsv (img_align_celeba.zip, list_eval_partition.txt, "
            'list_attr_celeba.txt, list_bbox_celeba.txt, list_landmarks_align_celeba.txt) '
            'into a folder M, then:\n  pip install tensorflow-cpu\n'
            '  tfds build celeb_a --data_dir={data_dir} --manual_dir=M '
            '--file_format=array_record')),
    # Full ImageNet (ILSVRC2012) at 128x128, for BigBiGAN (configs/bigbigan_imagenet128.py).
    # ILSVRC2012's test labels are not public: its `validation` split is the test
    # split here, and the last 10,000 training images validate.
    'imagenet128': ImageDatasetSpec(
        'imagenet2012', 'train[:1271167]', 'train[1271167:]', 'validation', 128, 3,
        square_crop=True, num_classes=1000, before_validation=('train', 'validation'),
        how_to_prepare=('Download ILSVRC2012 into a folder M (it needs a licence), then:\n'
                        '  pip install tensorflow-cpu\n  tfds build imagenet2012 '
                        '--data_dir={data_dir} --manual_dir=M --file_format=array_record')),
    # Downsampled ImageNet (Chrabaszcz et al. 2017); the paper centre-crops
    # before downsampling, this builder resizes whole images.
    'imagenet64': ImageDatasetSpec(
        'imagenet_resized/64x64', 'train[:1271167]', 'train[1271167:]', 'validation', 64, 3,
        before_validation=('train', 'validation'),
        how_to_prepare=('Download ILSVRC2012 into a folder M (it needs a licence), then:\n'
                        '  pip install tensorflow-cpu\n  tfds build imagenet_resized/64x64 '
                        '--data_dir={data_dir} --manual_dir=M --file_format=array_record')),
    # BiGAN's permutation-invariant experiments (configs/bigan_mnist_mlp.py); BiGAN's
    # code validates on the last 10,000 training images.
    'mnist': ImageDatasetSpec('mnist', 'train[:50000]', 'train[50000:]', 'test', 28, 1,
                              how_to_prepare=_BUILD, num_classes=10,
                              before_validation=('train', 'test')),
    # scikit-learn's digits (shipped, no download): prepared automatically; 1,500
    # training digits, the last 300 of them validate.
    'digits': ImageDatasetSpec('sklearn_digits', 'train[:1200]', 'train[1200:]', 'test', 32, 1,
                               num_classes=10, before_validation=('train', 'test')),
    # Prepared automatically from the original files in config.data.manual_dir
    # (ali_jax/data/fashion_mnist_builder.py).
    # The last 10,000 training images validate, as BiGAN's MNIST.
    'fashion_mnist': ImageDatasetSpec('fashion_mnist', 'train[:50000]', 'train[50000:]', 'test',
                                      28, 1, num_classes=10, before_validation=('train', 'test')),
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
  """Training batches and the held-out sets (validation, test) of one image dataset."""

  def __init__(self, config, *, train_source, heldout_sources, labels_source=None):
    """heldout_sources: {'validation': source, 'test': source}; labels_source: where
    the labelled methods draw their labels (the training source if None)."""
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
    self._num_heldout = config.data.num_heldout
    self._heldout_sources = heldout_sources
    self._heldout = {}
    source = train_source if labels_source is None else labels_source
    self.labelled = self._labelled_subset(config, source) if _num_labels(config) else None

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

  def _labelled_subset(self, config, source):
    """The labelled methods' examples (ali_jax/data/labelled.py), drawn from `source`."""
    options = config.method_options
    if options.num_labels > len(source):
      raise ValueError(f'config.method_options.num_labels={options.num_labels} is more than '
                       f'the {len(source)} examples of the labelled split of '
                       f'{config.dataset}: lower it.')
    walked = {}  # index -> record: the chosen ones are not read a second time
    indices = labelled_lib.balanced_subset(
        lambda i: walked.setdefault(i, source[i])['label'],
        len(source), num_labels=options.num_labels,
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
    # One set of noise stands for every held-out split; noise has no classes.
    self._noise = HeldOut(
        rng.uniform(size=(config.data.num_heldout,) + data_shape).astype(np.float32),
        rng.integers(0, 2, (config.data.num_heldout, self._condition_dim)).astype(np.float32)
        if self.conditional else None, None)
    # The labelled methods' step also takes noise, labelled with random classes.
    num_labels = _num_labels(config)
    self.labelled = labelled_lib.LabelledSubset(
        rng.uniform(size=(num_labels,) + data_shape).astype(np.float32),
        rng.integers(0, SPECS[config.dataset].num_classes, num_labels).astype(np.int32),
        seed=config.seed) if num_labels else None

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
