"""Every class of bad config fails before anything compiles, naming the field."""
import dataclasses
import glob
import os

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from ali_jax import losses
from ali_jax.config import fields
from ali_jax.config import validation
from ali_jax.models import common
from ali_jax.models import conv_layers
from ali_jax.models import priors
from ali_jax.models import remat as remat_lib
from ali_jax.runs import preflight
from ali_jax.settings import choices
from ali_jax.settings import datasets
from ali_jax.settings import run_settings
from ali_jax.training import methods
from ali_jax.training import optimizers
from ali_jax.training import trainer
from configs import mixture_tiny
from tests.conftest import NUM_DEVICES
from tests import helpers

REPO = helpers.REPO


CONFIG_FILES = sorted(path for path in glob.glob(os.path.join(REPO, 'configs', '*.py'))
                      if 'def get_config' in open(path).read())


def test_every_config_file_is_checked():
  # mixture (3), digits, fashion_mnist, the paper's 5, semi-supervised (3), BiGAN's
  # MLPs (MNIST's and the digits), BigBiGAN (3); common.py is a helper
  assert len(CONFIG_FILES) == 18
  assert not any(path.endswith('common.py') for path in CONFIG_FILES)


@pytest.mark.parametrize('path', CONFIG_FILES)
def test_every_shipped_config_is_valid(path):
  validation.check_config(preflight.load_config_file(path), device_count=NUM_DEVICES)


@pytest.mark.parametrize('path', CONFIG_FILES)
def test_every_shipped_config_reads_into_run_settings(path):
  """RunSettings holds each model and optimizer field at the config's value."""
  config = preflight.load_config_file(path)
  settings = run_settings.RunSettings.from_config(config)
  flat = fields.flatten(config)
  for group in ('model', 'optimizer'):
    part = getattr(settings, group)
    for field in dataclasses.fields(part):
      value = flat.get(f'{group}.{field.name}', getattr(part, field.name))
      assert getattr(part, field.name) == (tuple(value) if isinstance(value, list) else value)
  assert settings.data.shape == tuple(datasets.data_shape(config))
  assert settings.evaluation.final_split == config.data.final_split


@pytest.mark.parametrize('field, value, message', [
    # unknown keys, with a suggestion for a typo
    ('batchsize', 64, r'config.batchsize is not a known field of a mixture config. Did you mean config.batch_size\?'),
    ('model.laten_dim', 2, r'Did you mean config.model.latent_dim\?'),
    # wrong types
    ('batch_size', 16.0, r'config.batch_size=16.0 is not allowed: expected a positive integer'),
    ('num_train_steps', '100', r"config.num_train_steps='100' is not allowed"),
    ('model.encoder_hidden', (32, 'wide'), 'expected a sequence of positive integers'),
    ('seed', True, 'expected an integer >= 0'),
    # impossible values
    ('num_train_steps', -5, 'config.num_train_steps=-5 is not allowed'),
    ('optimizer.learning_rate', float('nan'), 'expected a finite number > 0'),
    ('optimizer.b1', 1.0, r'expected a number in \[0, 1\)'),
    ('model.dropout_rate', -0.1, r'expected a number in \[0, 1\)'),
    # choices
    ('model.encoder', 'vae', "expected one of \\('gaussian', 'noise', 'deterministic'\\)"),
    ('model.encoder_sigma', 'relu', "expected one of \\('exp', 'softplus', 'sigmoid'\\)"),
    ('loss_form', 'hinge', "config.loss_form='hinge' is not allowed: expected one of"),
    ('dataset', 'stl10', "config.dataset='stl10' is not allowed: expected one of "
                         "\\('mixture', 'svhn', 'cifar10', 'celeba', 'imagenet128', 'imagenet64', "
                         "'mnist', 'digits', 'fashion_mnist'\\)"),
    ('nonfinite', 'ignore', "expected one of \\('stop', 'skip'\\)"),
    # across fields
    ('batch_size', 18, r'batch_size=18 must be divisible by the number of devices \(4\)'),
    ('batch_size', 4000, r'larger than the training set \(config.data.num_train=2000\)'),
    ('model.encoder_sigma', 'sigmoid',
     "encoder_sigma='sigmoid' sets a gaussian encoder's sigma, but config.model.encoder='noise'"),
])
def test_invalid_configs_fail_fast_naming_the_field(tiny_config, field, value, message):
  # Built from a plain dict, as a config file could write it (a ConfigDict
  # would refuse some of these type changes itself).
  values = tiny_config.to_dict()
  *parents, name = field.split('.')
  inner = values
  for parent in parents:
    inner = inner[parent]
  inner[name] = value
  config = ml_collections.ConfigDict(values)
  with pytest.raises(ValueError, match=message):
    validation.check_config(config, device_count=NUM_DEVICES)


def test_missing_field_is_named(tiny_config):
  del tiny_config.model['maxout_pieces']
  with pytest.raises(ValueError, match='config.model.maxout_pieces is missing'):
    validation.check_config(tiny_config, device_count=NUM_DEVICES)


def test_trainer_checks_before_touching_the_workdir(tmp_path, tiny_config):
  tiny_config.model.encoder = 'vae'
  with pytest.raises(ValueError, match='config.model.encoder'):
    trainer.train_and_evaluate(tiny_config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('path, sigma', [('configs/mixture.py', 'exp'),
                                         ('configs/celeba.py', 'exp'),
                                         ('configs/bigbigan_cifar10.py', 'softplus')])
def test_a_run_saved_before_encoder_sigma_reads_the_sigma_it_had(path, sigma):
  config = preflight.load_config_file(os.path.join(REPO, path))
  assert config.model.encoder_sigma == sigma
  del config.model['encoder_sigma']
  assert fields.with_fields_added_since(config).model.encoder_sigma == sigma


def test_each_choice_is_implemented_and_nothing_else():
  # The names live apart from their implementations (settings/choices.py, JAX-free).
  assert tuple(methods.PHASES) == choices.METHODS
  assert tuple(common.SIGMAS) == choices.ENCODER_SIGMAS
  assert tuple(common.COMPUTE_DTYPES) == choices.DTYPES
  assert tuple(conv_layers.IMPLEMENTATIONS) == choices.CONV_IMPLEMENTATIONS
  for remat in choices.REMAT_POLICIES:
    assert remat_lib.rematerialised(lambda x: 2 * x, remat)(1.0) == 2.0
  config = mixture_tiny.get_config()
  for schedule in choices.LEARNING_RATE_SCHEDULES:
    config.optimizer.schedule = schedule
    rate = optimizers.learning_rate_schedule(  # a number when constant
        run_settings.OptimizerSettings.from_config(config), 10)
    assert float(rate(0) if callable(rate) else rate) > 0
  for prior in choices.PRIORS:
    assert priors.sample(jax.random.PRNGKey(0), (2,), prior).shape == (2,)
  for form in choices.LOSS_FORMS:
    assert jnp.isfinite(losses.generator_loss(jnp.zeros(2), jnp.zeros(2), form=form))
  for norm in choices.RECONSTRUCTION_NORMS:
    assert losses.reconstruction_loss(jnp.ones((2, 3)), jnp.zeros((2, 3)), norm) == 3.0
