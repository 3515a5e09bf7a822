"""config.model.prior: BiGAN's U(-1, 1) prior beside ALI's N(0, I)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax import data
from ali_jax import inference
from ali_jax import losses
from ali_jax.config import validation
from ali_jax.models import priors
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib
from configs import digits
from tests.conftest import NUM_DEVICES


def test_samples_keep_to_the_support_and_gaussian_is_unchanged():
  key = jax.random.PRNGKey(3)
  uniform = np.asarray(priors.sample(key, (20_000, 2), choices.UNIFORM_PRIOR))
  assert uniform.min() >= -1 and uniform.max() < 1
  assert abs(uniform.mean()) < 0.02 and abs(uniform.var() - 1 / 3) < 0.01
  # The Gaussian prior draws exactly what the step drew before priors existed.
  np.testing.assert_array_equal(priors.sample(key, (5, 3)), jax.random.normal(key, (5, 3)))
  host = priors.sample_numpy(np.random.default_rng(0), (20_000,), choices.UNIFORM_PRIOR)
  assert host.dtype == np.float32 and -1 <= host.min() and host.max() < 1
  with pytest.raises(ValueError, match='prior must be one of'):
    priors.sample(key, (2,), 'laplace')


def test_uniform_latent_regression_loss_by_hand():
  # a = 0 predicts 1/2 everywhere: each unit costs log 2 whatever its target.
  z = jnp.array([[0.0, 1.0, -1.0], [0.5, 0.5, 0.5]])
  np.testing.assert_allclose(losses.uniform_latent_regression_loss(z, jnp.zeros_like(z)),
                             3 * np.log(2), rtol=1e-6)
  # Confident and right costs ~0; the gradient is sigmoid(a) - (z + 1) / 2.
  a = jnp.array([[30.0, -30.0]])
  assert float(losses.uniform_latent_regression_loss(jnp.array([[1.0, -1.0]]), a)) < 1e-12
  grad = jax.grad(lambda a: losses.uniform_latent_regression_loss(z[:1, :2], a))(
      jnp.array([[0.3, -0.2]]))
  np.testing.assert_allclose(grad, [[jax.nn.sigmoid(0.3) - 0.5, jax.nn.sigmoid(-0.2) - 1.0]],
                             rtol=1e-6)


def _uniform(config, encoder='deterministic', method='bigan'):
  config.model.prior = choices.UNIFORM_PRIOR
  config.model.encoder = encoder
  config.method = method
  return config


@pytest.mark.parametrize('name', ['mixture_tiny', 'digits'])
def test_the_encoder_is_squashed_into_the_support(tiny_config, name):
  config = _uniform(tiny_config if name == 'mixture_tiny' else digits.get_config())
  config.batch_size = 8
  run = run_setup.RunSetup(config, axis_name=None)
  state = state_lib.create_train_state(run)
  x = next(data.load_dataset(config).batches(0, global_batch_size=8))['x']
  noise = jnp.zeros((8, run.latent_dim))
  calls = step_lib.NetworkCalls(run.networks, state, {}, dropout_key=jax.random.PRNGKey(0),
                                loss_form=config.loss_form, prior=config.model.prior)
  z, logits = calls.encode(x * 50, noise), calls.encode_pre_squash(x * 50, noise)
  np.testing.assert_allclose(z, 2 * jax.nn.sigmoid(logits) - 1, rtol=1e-6, atol=1e-7)
  assert np.all(np.abs(z) <= 1)


def test_a_run_samples_its_prior_and_the_latent_regressor_reads_the_logits(tiny_config):
  config = _uniform(tiny_config, method='latent_regressor')
  config.method_options.inference_steps = 4
  validation.check_config(config, device_count=NUM_DEVICES)
  run = run_setup.RunSetup(config, axis_name=None)
  state = state_lib.create_train_state(run)
  model = inference.TrainedModel(run, state)
  z = np.asarray(priors.sample(jax.random.PRNGKey(7), (6, run.latent_dim), choices.UNIFORM_PRIOR))
  np.testing.assert_array_equal(model.sample(6, seed=7), model.decode(z))
  # The inference phase's loss: the cross-entropy on E's logits, not a squared error.
  batch = data.load_dataset(config).train_batch(0, global_batch_size=config.batch_size,
                                                seed=config.seed)
  _, metrics = jax.jit(run.train_step(run.phases[-1]))(state, batch)
  regression = float(metrics['regression_loss'])
  assert np.isfinite(regression) and regression > 0
  # An untrained E's logits are near 0: close to log 2 per latent unit.
  assert abs(regression / run.latent_dim - np.log(2)) < 0.1


def test_a_gaussian_encoder_with_the_uniform_prior_is_refused(tiny_config):
  config = _uniform(tiny_config, encoder='gaussian', method='ali')
  with pytest.raises(ValueError, match=r"prior='uniform'.*encoder='deterministic'"):
    validation.check_config(config, device_count=NUM_DEVICES)
  config.model.prior = 'laplace'
  with pytest.raises(ValueError, match=r'config.model.prior'):
    validation.check_config(config, device_count=NUM_DEVICES)
