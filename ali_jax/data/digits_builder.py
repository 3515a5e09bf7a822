"""sklearn_digits: scikit-learn's 1,797 8x8 handwritten digits at 32x32, as a TFDS dataset.

Shipped with scikit-learn (no download), so the image pipeline can run
offline. Images are scaled from 0..16 to 0..255 and resized bilinearly; a fixed
permutation puts 1,500 in `train` and 297 in `test`.
"""
import io

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds

NUM_TRAIN = 1500
_PERMUTATION_SEED = 1797


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
  """scikit-learn's handwritten digits, 32x32 grayscale."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}

  def _info(self):
    return self.dataset_info_from_configs(
        description=__doc__,
        features=tfds.features.FeaturesDict({
            'image': tfds.features.Image(shape=(32, 32, 1)),
            'label': tfds.features.ClassLabel(num_classes=10),
        }),
        supervised_keys=('image', 'label'),
        homepage='https://scikit-learn.org/stable/datasets/toy_dataset.html',
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    digits = datasets.load_digits()
    order = np.random.default_rng(_PERMUTATION_SEED).permutation(len(digits.images))
    images, labels = digits.images[order], digits.target[order]
    return {'train': self._generate_examples(images[:NUM_TRAIN], labels[:NUM_TRAIN]),
            'test': self._generate_examples(images[NUM_TRAIN:], labels[NUM_TRAIN:])}

  def _generate_examples(self, images, labels):
    for i, (image, label) in enumerate(zip(images, labels)):
      pixels = Image.fromarray((image * (255 / 16)).round().astype(np.uint8))
      png = io.BytesIO()
      pixels.resize((32, 32), Image.BILINEAR).save(png, format='PNG')
      yield i, {'image': png.getvalue(), 'label': int(label)}
