"""fashion_mnist prepared offline from the four original IDX files.

TFDS's own `fashion_mnist` builder downloads the files
train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (Xiao et al. 2017).
Debian ships the same files (`apt-get install dataset-fashion-mnist`), so this
builder reads them from a local folder instead and writes TFDS's dataset
(name, version, splits, features, example keys) as ArrayRecord without
TensorFlow or a network: `tfds.data_source('fashion_mnist')` then reads what a
user who prepared TFDS's own builder would read.

The files are checked whole before anything is written (gzip integrity, the
IDX magic number, shapes, sizes, labels in 0..9). TFDS writes into a temporary
folder that it renames only when complete, so a failure leaves nothing
half-prepared and the next run prepares afresh.
"""
import gzip
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from ali_jax.settings import datasets

NAME = 'fashion_mnist'
DEBIAN_DIR = datasets.FASHION_MNIST_DEBIAN_DIR
FILES = {  # split -> (images, labels), the names TFDS downloads
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'test': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}
IMAGE_SIZE = 28
NUM_CLASSES = 10
# IDX magic numbers: 0x0000, type 0x08 (unsigned byte), then the number of dimensions.
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801
HOW_TO_GET = ('Install the original files with\n'
              '  apt-get update && apt-get install -y dataset-fashion-mnist\n'
              f'(they go to {DEBIAN_DIR}), or point --config.data.manual_dir at a folder '
              'holding ' + ', '.join(f for pair in FILES.values() for f in pair) + '.\n'
              'With a network and TensorFlow, TFDS\'s own builder works too:\n'
              '  pip install tensorflow-cpu\n'
              '  tfds build fashion_mnist --data_dir={data_dir} --file_format=array_record')


class SourceFileError(ValueError):
  """An original IDX file is missing, truncated or not what its name says."""


def missing_files(source_dir):
  """The paths of the four original files that `source_dir` lacks."""
  return [os.path.join(source_dir, name) for pair in FILES.values() for name in pair
          if not os.path.isfile(os.path.join(source_dir, name))]


def read_idx(path, magic):
  """The array in a gzipped IDX file, checked whole; SourceFileError naming `path` if not.

  IDX: a 4-byte big-endian magic number (0x0000, type 0x08 for unsigned bytes,
  number of dimensions), one 4-byte big-endian size per dimension, then the
  bytes in row-major order.
  """
  try:
    with gzip.open(path, 'rb') as f:
      content = f.read()
  except FileNotFoundError:
    raise SourceFileError(f'{path} does not exist.') from None
  except (OSError, EOFError, zlib.error) as error:  # truncated or not gzip
    raise SourceFileError(f'{path} is not a complete gzip file ({error}); reinstall '
                          'it.') from None
  dims = magic & 0xFF
  header = 4 + 4 * dims
  if len(content) < header or struct.unpack('>I', content[:4])[0] != magic:
    raise SourceFileError(f'{path} is not an IDX file of {dims} dimensions (magic number '
                          f'{content[:4].hex() or "missing"}, expected {magic:08x}).')
  shape = struct.unpack(f'>{dims}I', content[4:header])
  expected = header + int(np.prod(shape))
  if len(content) != expected:
    raise SourceFileError(f'{path} holds {len(content)} bytes, but its header {shape} '
                          f'says {expected}: the file is truncated or damaged.')
  return np.frombuffer(content, np.uint8, offset=header).reshape(shape)


def read_split(source_dir, split):
  """(images (n, 28, 28, 1) uint8, labels (n,) int64) of `split`, checked."""
  images_name, labels_name = FILES[split]
  images_path = os.path.join(source_dir, images_name)
  labels_path = os.path.join(source_dir, labels_name)
  images = read_idx(images_path, _IMAGES_MAGIC)
  labels = read_idx(labels_path, _LABELS_MAGIC).astype(np.int64)
  if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
    raise SourceFileError(f'{images_path} holds images of {images.shape[1:]}; Fashion-MNIST '
                          f'images are {IMAGE_SIZE}x{IMAGE_SIZE}.')
  if len(images) != len(labels):
    raise SourceFileError(f'{images_path} has {len(images)} images but {labels_path} has '
                          f'{len(labels)} labels.')
  if labels.size and labels.max() >= NUM_CLASSES:
    raise SourceFileError(f'{labels_path} holds label {labels.max()}; Fashion-MNIST has '
                          f'{NUM_CLASSES} classes.')
  return images[..., None], labels


def _png(image):
  """PNG bytes of a (28, 28, 1) uint8 image: TFDS encodes them without TensorFlow."""
  buffer = io.BytesIO()
  Image.fromarray(image[..., 0]).save(buffer, format='PNG')
  return buffer.getvalue()


class LocalFashionMnist(tfds_mnist.FashionMNIST, skip_registration=True):
  """TFDS's fashion_mnist (same name, version, features and keys), from local files."""

  name = NAME

  def __init__(self, *, source_dir, **kwargs):
    self.source_dir = source_dir
    super().__init__(**kwargs)

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    # Read and check every file before the first example is written.
    splits = {split: read_split(self.source_dir, split) for split in FILES}
    return {split: self._generate_examples(*arrays) for split, arrays in splits.items()}

  def _generate_examples(self, images, labels):  # pylint: disable=arguments-differ
    # TFDS's builder keys each example by its index in the file: the same keys
    # give the same order in the prepared files.
    for index, (image, label) in enumerate(zip(images, labels)):
      yield index, {'image': _png(image), 'label': int(label)}


def prepare(builder):
  """Prepares `builder` (a LocalFashionMnist) from its source_dir's files.

  Raises SourceFileError (naming the file and the fix) if the files are
  missing or damaged; nothing is left half-written then.
  """
  missing = missing_files(builder.source_dir)
  if missing:
    raise SourceFileError('Fashion-MNIST\'s original files are missing: '
                          + ', '.join(missing) + '.\n'
                          + HOW_TO_GET.format(data_dir=builder.data_dir_root))
  builder.download_and_prepare(file_format='array_record',
                               download_config=tfds.download.DownloadConfig(
                                   try_download_gcs=False))
