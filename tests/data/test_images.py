"""Image datasets and configs end to end: mock TFDS data, the digits builder, errors."""
import importlib
import json
import types

import numpy as np
import pytest
import tensorflow_datasets as tfds

import ali_jax
from ali_jax import data
from ali_jax.config import validation
from ali_jax.data import images
from ali_jax.evaluation import evaluator
from ali_jax.evaluation import figures
from ali_jax.settings import datasets
from ali_jax.training import trained_model
from ali_jax.training import trainer
from tests.conftest import NUM_DEVICES
from tests.models.test_architectures import expected_param_counts


def _shrunk(name, data_dir):
  config = importlib.import_module(f'configs.{name}').get_config()
  config.batch_size = 8
  config.num_train_steps = 2
  config.log_every_steps = 1
  config.checkpoint_every_steps = 2
  config.eval_every_steps = 100
  config.data.num_heldout = 6
  config.data.num_eval_samples = 4
  config.data.data_dir = str(data_dir)
  # The reference classifier's metrics are tested on fashion_mnist
  # (tests/data/test_fashion_mnist.py); mock data has nothing to classify.
  config.evaluation.class_metrics = False
  return config


@pytest.mark.parametrize('name, architecture, condition_dim', [
    ('svhn', 'svhn', 0), ('cifar10', 'cifar10', 0), ('celeba', 'celeba', 0),
    ('celeba_conditional', 'celeba', 40), ('imagenet64', 'imagenet64', 0)])
def test_paper_config_trains_and_evaluates_on_mock_tfds(tmp_path, monkeypatch, name,
                                                        architecture, condition_dim):
  config = _shrunk(name, tmp_path / 'tfds')
  # The evaluation's few rows in chunks of 8, not padded to 64 (the paper nets are large).
  monkeypatch.setattr(trained_model, 'IMAGE_CHUNK', 8)
  with tfds.testing.mock_data(num_examples=24):
    metrics = trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert metrics['step'] == 2
  for key in ('reconstruction_mse', 'reconstruction_distance', 'random_pair_distance',
              'reconstruction_ratio'):
    assert np.isfinite(metrics[key]) and metrics[key] > 0, key
  # ALI's D judges encoder pairs, and its encoder is Gaussian: the inference diagnostics.
  assert 0 <= metrics['pairing_accuracy'] <= 1 and np.isfinite(metrics['pairing_logit_gap'])
  assert metrics['posterior_std'] > 0 and 0 <= metrics['posterior_mean_share'] <= 1
  assert json.loads((tmp_path / 'run' / 'eval.json').read_text()) == metrics
  for figure in ('samples.png', 'reconstructions.png', 'interpolations.png'):
    assert (tmp_path / 'run' / 'images' / figure).stat().st_size > 100
  model = ali_jax.load(str(tmp_path / 'run'))
  assert model.param_counts() == expected_param_counts(architecture, condition_dim)
  arch_shape = datasets.data_shape(config)
  x = np.full((3,) + arch_shape, 0.5, np.float32)
  y = np.ones((3, condition_dim), np.float32) if condition_dim else None
  assert model.reconstruct(x, y).shape == x.shape
  with pytest.raises(ValueError, match=r'expected \[0.0, 1.0\]'):
    model.encode(x * 255, y)
  if condition_dim:
    with pytest.raises(ValueError, match='This model is conditional'):
      model.encode(x)


def test_square_crop_takes_the_centred_square_of_the_shorter_side():
  # ImageNet's images come in many sizes (the imagenet128 spec).
  spec = datasets.ImageDatasetSpec('any', 'train', 'validation', 'test', 4, 1, square_crop=True)
  image = np.zeros((12, 8, 1), np.uint8)
  image[2:10] = 255  # the centred 8x8 square is white, the rows above and below black
  assert np.array_equal(images.to_unit_images(image, spec), np.ones((4, 4, 1), np.float32))
  whole = images.to_unit_images(
      image, datasets.ImageDatasetSpec('any', 'train', 'validation', 'test', 4, 1))
  assert whole.min() < 0.5  # resized whole, the black rows stay


def test_digits_builder_prepares_offline(tmp_path):
  config = _shrunk('digits', tmp_path / 'tfds')
  dataset = data.load_dataset(config)  # prepares sklearn_digits on first use
  assert dataset.data_shape == (32, 32, 1)
  assert dataset.heldout('test').images.shape == (6, 32, 32, 1)
  train_source = tfds.data_source('sklearn_digits', split='train', data_dir=str(tmp_path / 'tfds'))
  test_source = tfds.data_source('sklearn_digits', split='test', data_dir=str(tmp_path / 'tfds'))
  assert (len(train_source), len(test_source)) == (1500, 297)
  example = train_source[0]
  assert example['image'].shape == (32, 32, 1) and 0 <= example['label'] < 10
  assert example['image'].max() > 128 and example['image'].min() == 0  # ink on paper
  batch = next(dataset.batches(0, global_batch_size=8))
  assert batch['x'].shape == (8, 32, 32, 1) and batch['x'].dtype == np.float32
  assert 0 <= batch['x'].min() and batch['x'].max() <= 1


def test_image_batches_are_a_function_of_the_step_and_split_by_process(tmp_path):
  dataset = data.load_dataset(_shrunk('digits', tmp_path / 'tfds'))
  first = [b['x'] for b, _ in zip(dataset.batches(0, global_batch_size=8), range(4))]
  resumed = next(dataset.batches(3, global_batch_size=8))['x']
  np.testing.assert_array_equal(resumed, first[3])
  shares = [next(dataset.batches(2, global_batch_size=8, process_index=p, process_count=2))['x']
            for p in range(2)]
  np.testing.assert_array_equal(np.concatenate(shares), first[2])
  # An epoch (the 1,200 training digits; the last 300 of the 1,500 validate) visits
  # each image once.
  epoch = np.concatenate([b['x'] for b, _ in zip(
      dataset.batches(0, global_batch_size=100), range(12))])
  assert len(np.unique(epoch.reshape(len(epoch), -1), axis=0)) > 1150  # a few duplicates exist


def test_missing_dataset_says_what_to_run(tmp_path):
  config = _shrunk('celeba', tmp_path / 'empty')
  with pytest.raises(FileNotFoundError,
                     match=r'(?s)celeb_a \(config.dataset=celeba\) is not prepared'
                           r'.*manual_dir=M.*--config.data_source=fake'):
    data.load_dataset(config)


def test_fake_data_is_announced(tmp_path, caplog):
  config = _shrunk('svhn', tmp_path)
  config.data_source = 'fake'
  with caplog.at_level('WARNING'):
    dataset = data.load_dataset(config)
  assert 'RANDOM NOISE' in caplog.text
  assert next(dataset.batches(0, global_batch_size=8))['x'].shape == (8, 32, 32, 3)


@pytest.mark.parametrize('change, message', [
    (dict(dataset='celeba'), r"architecture='svhn' takes 32x32x3 images, but "
                             r"config.dataset='celeba' gives 64x64x3. Architectures for it: "
                             r"celeba, imagenet64"),
    ({'model.latent_dim': 128}, r'latent_dim=128 does not match the .svhn. architecture'),
    ({'model.encoder': 'noise'}, "'noise' is for the mixture"),
    ({'model.condition_dim': 40}, 'only celeba has attributes'),
    (dict(data_source='s3'), "config.data_source='s3' is not allowed"),
])
def test_image_config_mismatches_are_named(tmp_path, change, message):
  config = _shrunk('svhn', tmp_path)
  config.update_from_flattened_dict(change)
  with pytest.raises(ValueError, match=message):
    validation.check_config(config, device_count=NUM_DEVICES)


def test_image_metrics_by_hand():
  class Perfect:  # reconstructs exactly
    num_classes = 0  # its D does not classify
    settings = types.SimpleNamespace(method='ali', model=types.SimpleNamespace(
        encoder='gaussian'))
    def reconstruct(self, x, y, seed):
      return x
    def posterior(self, x, y):  # mu: x's mean and 0; sigma 0.5
      return self.encode(x, y, 0), np.full((len(x), 2), 0.5, np.float32)
    def real_logit(self, x, z, y):  # D believes a pair when z[0] is x's mean
      return -np.abs(x.mean(axis=(1, 2, 3)) - z[:, 0])
    def sample(self, n, y, seed):
      return np.zeros((n, 4, 4, 1), np.float32)
    def encode(self, x, y, seed):
      return np.stack([x.mean(axis=(1, 2, 3)), np.zeros(len(x))], 1).astype(np.float32)
    def decode(self, z, y):
      return np.zeros((len(z), 4, 4, 1), np.float32)

  heldout = np.random.default_rng(0).uniform(size=(10, 4, 4, 1)).astype(np.float32)
  metrics, arrays = evaluator.evaluate_images(Perfect(), data.HeldOut(heldout, None, None),
                                               num_samples=4)
  assert metrics['reconstruction_mse'] == 0 and metrics['reconstruction_ratio'] == 0
  assert metrics['random_pair_distance'] > 0
  means = heldout.mean(axis=(1, 2, 3))
  # Every image's own code beats the next image's, by |mean_i - mean_{i-1}| on average.
  assert metrics['pairing_accuracy'] == 1
  np.testing.assert_allclose(metrics['pairing_logit_gap'],
                             np.abs(means - np.roll(means, 1)).mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics['posterior_std'], 0.5)
  np.testing.assert_allclose(metrics['posterior_mean_share'],
                             means.var() / (means.var() + 2 * 0.25), rtol=1e-4)
  assert arrays['interpolations'].shape == (5 * figures.INTERPOLATION_STEPS, 4, 4, 1)
  grid = figures.image_grid(np.ones((3, 4, 4, 1)), columns=2)
  assert grid.shape == (2 * 5 + 1, 2 * 5 + 1) and grid.dtype == np.uint8


def test_celeba_crop_is_centred():
  spec = datasets.SPECS['celeba']
  face = np.zeros((218, 178, 3), np.uint8)
  face[55:163, 35:143] = 255  # the centred 108x108 square
  out = images.to_unit_images(face, spec)
  assert out.shape == (64, 64, 3) and out.min() == 1.0


def test_labelled_split_for_the_semi_supervised_protocol(tmp_path):
  from experiments import svm_protocol  # pylint: disable=g-import-not-at-top
  config = _shrunk('svhn', tmp_path / 'tfds')
  pool_split = svm_protocol.SPLITS['svhn'][0]
  with tfds.testing.mock_data(num_examples=12):
    images_, labels = data.labelled_split(config, pool_split)
  assert images_.shape == (12, 32, 32, 3) and images_.dtype == np.float32
  assert labels.shape == (12,) and labels.dtype == np.int64 and 0 <= labels.min()
  x, y = data.labelled_split(_shrunk('digits', tmp_path / 'tfds'), 'train[1200:]')
  assert x.shape == (300, 32, 32, 1) and set(np.unique(y)) == set(range(10))
