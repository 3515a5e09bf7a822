"""fashion_mnist prepared from tiny IDX files written here; missing data fails at once."""
import gzip
import importlib
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from ali_jax import data
from ali_jax.data import fashion_mnist_builder
from ali_jax.settings import mistakes
from ali_jax.training import trainer
from tests import helpers

SIZES = {'train': 12, 'test': 6}


def write_idx(path, array):
  """A gzipped IDX file of uint8 `array` (the format of the original files)."""
  header = struct.pack('>I', 0x0800 + array.ndim) + struct.pack(f'>{array.ndim}I',
                                                                 *array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


def write_source_files(directory, seed=0):
  """The four original files with random images; returns {split: (images, labels)}."""
  rng = np.random.default_rng(seed)
  os.makedirs(directory, exist_ok=True)
  written = {}
  for split, (images_name, labels_name) in fashion_mnist_builder.FILES.items():
    images = rng.integers(0, 256, (SIZES[split], 28, 28), np.uint8)
    labels = rng.integers(0, 10, SIZES[split]).astype(np.uint8)
    write_idx(os.path.join(directory, images_name), images)
    write_idx(os.path.join(directory, labels_name), labels)
    written[split] = (images, labels)
  return written


def _config(tmp_path, **changes):
  config = importlib.import_module('configs.fashion_mnist').get_config()
  # The tests' files hold 12 training images: too few for the real 50,000 / 10,000 cut
  # of the training split (tests/data/test_data.py checks the splits themselves).
  config.data.carve_validation = False
  config.update_from_flattened_dict({
      'data.manual_dir': str(tmp_path / 'idx'), 'data.data_dir': str(tmp_path / 'tfds'),
      'batch_size': 4, 'num_train_steps': 2, 'log_every_steps': 1,
      'checkpoint_every_steps': 2, 'eval_every_steps': 100, 'data.num_heldout': 6,
      'data.num_eval_samples': 8, **changes})
  return config


def test_prepared_examples_are_the_files_examples_bit_for_bit(tmp_path):
  written = write_source_files(tmp_path / 'idx')
  config = _config(tmp_path)
  dataset = data.load_dataset(config)  # prepares on first use
  assert dataset.data_shape == (28, 28, 1) and dataset.heldout('test').images.shape == (
      6, 28, 28, 1)
  for split, (images, labels) in written.items():
    source = tfds.data_source('fashion_mnist', split=split, data_dir=str(tmp_path / 'tfds'),
                              download=False)
    records = [source[i] for i in range(len(source))]
    assert len(records) == SIZES[split]
    assert all(r['image'].shape == (28, 28, 1) and r['image'].dtype == np.uint8
               for r in records)
    prepared = sorted((r['image'].tobytes(), int(r['label'])) for r in records)
    original = sorted((image[..., None].tobytes(), int(label))
                      for image, label in zip(images, labels))
    assert prepared == original
  # TFDS's own builder reads it: same name, version and features.
  builder = tfds.builder('fashion_mnist', data_dir=str(tmp_path / 'tfds'))
  assert builder.version == tfds_mnist.FashionMNIST.VERSION
  assert builder.info.features['label'].names[0] == 'T-shirt/top'
  assert builder.info.splits['train'].num_examples == SIZES['train']


def test_missing_files_name_the_install_command_and_write_nothing(tmp_path):
  config = _config(tmp_path)
  with pytest.raises(mistakes.DatasetNotPrepared,
                     match=r'(?s)train-images-idx3-ubyte.gz.*apt-get install -y '
                           r'dataset-fashion-mnist.*tfds build fashion_mnist'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()
  assert not (tmp_path / 'tfds' / 'fashion_mnist').exists()


@pytest.mark.parametrize('damage, message', [
    ('truncate', 'is not a complete gzip file'),
    ('short', 'the file is truncated or damaged'),
    ('magic', 'is not an IDX file of 1 dimensions'),
])
def test_damaged_file_is_named_and_nothing_half_prepared_is_left(tmp_path, damage, message):
  write_source_files(tmp_path / 'idx')
  labels_path = tmp_path / 'idx' / 't10k-labels-idx1-ubyte.gz'
  if damage == 'truncate':  # the gzip stream cut off
    labels_path.write_bytes(labels_path.read_bytes()[:-12])
  elif damage == 'short':  # a valid gzip of fewer bytes than the header says
    write_idx(labels_path, np.zeros(6, np.uint8))
    content = gzip.decompress(labels_path.read_bytes())
    labels_path.write_bytes(gzip.compress(content[:-2]))
  else:  # an images file where the labels should be
    write_idx(labels_path, np.zeros((6, 28, 28), np.uint8))
  with pytest.raises(mistakes.DatasetNotPrepared, match=f'{labels_path}.*{message}'):
    data.load_dataset(_config(tmp_path))
  assert not any((tmp_path / 'tfds').rglob('*.array_record*'))
  # Repaired, the next run prepares afresh.
  write_source_files(tmp_path / 'idx')
  assert len(data.load_dataset(_config(tmp_path)).heldout('test').images) == 6


def test_a_run_uses_the_copy_another_process_prepared_first(tmp_path, monkeypatch):
  # Two runs started together both find nothing prepared; TFDS's final rename fails for the
  # one that finishes second, which then reads the other's copy.
  write_source_files(tmp_path / 'idx')
  prepare = fashion_mnist_builder.prepare

  def beaten_to_it(builder):
    prepare(fashion_mnist_builder.LocalFashionMnist(source_dir=builder.source_dir,
                                                    data_dir=builder.data_dir_root))
    raise FileExistsError('Cannot rename: destination already exists.')
  monkeypatch.setattr(fashion_mnist_builder, 'prepare', beaten_to_it)
  assert len(data.load_dataset(_config(tmp_path)).heldout('test').images) == 6


def test_a_failed_rename_with_nothing_prepared_is_not_hidden(tmp_path, monkeypatch):
  write_source_files(tmp_path / 'idx')

  def rename_fails(builder):
    raise FileExistsError('Cannot rename: destination already exists.')
  monkeypatch.setattr(fashion_mnist_builder, 'prepare', rename_fails)
  with pytest.raises(FileExistsError):
    data.load_dataset(_config(tmp_path))


IMAGE_CONFIGS = ['svhn', 'cifar10', 'celeba', 'celeba_conditional', 'imagenet64',
                 'fashion_mnist']


@pytest.mark.parametrize('name', IMAGE_CONFIGS)
def test_missing_dataset_stops_before_anything_without_downloading(tmp_path, monkeypatch,
                                                                     name):
  def no_download(*args, **kwargs):
    raise AssertionError('a download was attempted')
  monkeypatch.setattr(tfds.core.DatasetBuilder, 'download_and_prepare', no_download)
  monkeypatch.setattr(tfds.download.DownloadManager, 'download', no_download)
  config = importlib.import_module(f'configs.{name}').get_config()
  config.data.data_dir = str(tmp_path / 'empty')
  if name == 'fashion_mnist':
    config.data.manual_dir = str(tmp_path / 'no_idx_files')
  with pytest.raises(mistakes.DatasetNotPrepared, match=r'(?s)(apt-get|tfds build)'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


def test_main_prints_the_advice_alone_and_exits_non_zero(tmp_path):
  result = subprocess.run(
      [sys.executable, 'main.py', '--config=configs/celeba.py', f'--workdir={tmp_path / "run"}',
       f'--config.data.data_dir={tmp_path / "empty"}'],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode != 0
  assert 'celeb_a' in result.stderr and 'manual_dir=M' in result.stderr
  assert 'Traceback' not in result.stderr + result.stdout
  assert not (tmp_path / 'run').exists()


CLASS_METRICS = ('sample_class_kl_to_uniform', 'classifier_score', 'classifier_frechet_distance',
                 'reconstruction_class_agreement', 'encoder_1nn_accuracy', 'pixel_1nn_accuracy',
                 'reference_classifier_test_accuracy')


def test_a_run_reports_the_class_metrics(tmp_path):
  write_source_files(tmp_path / 'idx')
  config = _config(tmp_path)
  metrics = trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  for key in CLASS_METRICS:
    assert np.isfinite(metrics[key]), key
  assert 0 <= metrics['sample_class_kl_to_uniform'] <= np.log(10)
  assert 1 <= metrics['classifier_score'] <= 10
  for key in ('reconstruction_class_agreement', 'mean_reconstruction_class_agreement',
              'encoder_1nn_accuracy', 'pixel_1nn_accuracy'):  # ALI's encoder is Gaussian
    assert 0 <= metrics[key] <= 1, key
  assert (tmp_path / 'tfds' / 'ali_jax_classifiers').is_dir()
  figure = tmp_path / 'run' / 'images' / 'reconstructions.png'
  assert figure.stat().st_size > 1000
