"""What each dataset is: its splits, image shape and classes, and how to prepare it.

Facts only: ali_jax/data/ loads the data.

Choices (settings, early looks, SVM C, probe weight decay) are made on
VALIDATION, never trained on; TEST is read for the numbers a run reports
(config.data.final_split).
"""
import dataclasses
import os
from typing import Optional, Tuple

from ali_jax.settings import mistakes


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
  # (ali_jax/evaluation/classifier.py); 0: no such metrics.
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


VALIDATION = 'validation'
TEST = 'test'
HELDOUT_SPLITS = (VALIDATION, TEST)
MIXTURE = 'mixture'
MIXTURE_SHAPE = (2,)  # a point of the plane
IMAGE_DATASETS = tuple(SPECS)
DATASETS = (MIXTURE,) + IMAGE_DATASETS
DATA_SOURCES = ('tfds', 'fake')


def data_shape(config):
  """The shape of one data point of `config.dataset`, without loading it."""
  if config.dataset == MIXTURE:
    return MIXTURE_SHAPE
  if config.dataset in SPECS:
    spec = SPECS[config.dataset]
    return (spec.image_size, spec.image_size, spec.channels)
  raise ValueError(f'config.dataset={config.dataset!r} is not known; expected one of '
                   f'{DATASETS}.')


# Prepared from files on this machine on first use (ali_jax/data/__init__.py).
PREPARED_ON_FIRST_USE = ('digits', 'fashion_mnist')
# Where Debian's dataset-fashion-mnist package puts the four original .gz IDX files.
FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'


def default_data_dir(config):
  return config.data.data_dir or os.path.expanduser('~/tensorflow_datasets')


def not_prepared(dataset, data_dir, reason):
  """The mistake of an image dataset that is not in `data_dir`, where the config reads it."""
  spec = SPECS[dataset]
  return mistakes.DatasetNotPrepared(
      f'The TFDS dataset {spec.tfds_name} (config.dataset={dataset}) is not '
      f'prepared as ArrayRecord in {data_dir} ({reason}).\nTo prepare it:\n  '
      + spec.how_to_prepare.format(name=spec.tfds_name, data_dir=data_dir)
      + '\nor point --config.data.data_dir at a folder where it is prepared, or run a '
      'throughput benchmark on random images with --config.data_source=fake.')


def check_prepared(config):
  """Raises mistakes.DatasetNotPrepared if nothing of config.dataset is in its data_dir
  (what is there is read, and checked, once the run starts)."""
  if (config.dataset in PREPARED_ON_FIRST_USE or config.dataset not in SPECS
      or config.data_source != 'tfds' or '://' in default_data_dir(config)):
    return  # a bucket's folders are read once the run starts
  folder = os.path.join(default_data_dir(config), SPECS[config.dataset].tfds_name)
  if not os.path.isdir(folder):
    raise not_prepared(config.dataset, default_data_dir(config), f'there is no {folder}')
