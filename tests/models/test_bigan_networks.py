"""BiGAN's MNIST MLPs (ali_jax/models/bigan_networks.py) against the layer list of its code."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax import data
from ali_jax.config import validation
from ali_jax.models import bigan_networks
from ali_jax.models import common
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from configs import bigan_digits_mlp
from configs import bigan_mnist_mlp
from tests.conftest import NUM_DEVICES

BATCH = 6


def _config(**changes):
  config = bigan_mnist_mlp.get_config()
  config.data_source = 'fake'  # random 28x28x1 images: no dataset needed
  config.batch_size = BATCH * NUM_DEVICES
  config.update_from_flattened_dict(changes)
  return config


def _variables(config):
  run = run_setup.RunSetup(config)
  return run, state_lib.create_train_state(run)


def _kernel_shapes(params):
  return [leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(params)
          if path[-1].key == 'kernel']


def test_layers_and_parameter_counts_by_hand():
  run, state = _variables(_config())
  params = {name: getattr(state, name).params for name in ('encoder', 'generator',
                                                              'discriminator')}
  # E: FC1024 (+bias) -> LReLU; FC1024 (BN follows: no bias); linear -> 50 (+bias).
  assert _kernel_shapes(params['encoder']) == [(784, 1024), (1024, 1024), (1024, 50)]
  # G: FC1024(z); FC1024(h) + W z; FC784, then the per-pixel output bias.
  assert _kernel_shapes(params['generator']) == [(50, 1024), (1024, 1024), (50, 1024),
                                                 (1024, 784)]
  # D: FC1024(x) (+bias); FC1024(h) + W z; linear -> 1 logit (+bias).
  assert _kernel_shapes(params['discriminator']) == [(784, 1024), (1024, 1024), (50, 1024),
                                                     (1024, 1)]
  count = lambda tree: sum(leaf.size for leaf in jax.tree.leaves(tree))
  assert count(params['encoder']) == 784 * 1024 + 1024 + 1024 * 1024 + 1024 * 50 + 50
  assert count(params['generator']) == (50 * 1024 + 1024 * 1024 + 50 * 1024 + 1024 * 784
                                        + 784)
  assert count(params['discriminator']) == (784 * 1024 + 1024 + 1024 * 1024 + 50 * 1024
                                            + 1024 + 1)
  # Batch norm without gain or bias: statistics, no parameters.
  for name in ('encoder', 'generator', 'discriminator'):
    assert not any('BatchNorm' in str(path) for path, _ in
                   jax.tree_util.tree_leaves_with_path(params[name]))
    assert jax.tree.leaves(getattr(state, name).batch_stats)


def _apply(run, state, name, *args):
  variables = {'params': getattr(state, name).params,
               'batch_stats': getattr(state, name).batch_stats}
  return getattr(run.networks, name).apply(variables, *args, train=False)


def test_outputs_and_where_z_enters():
  run, state = _variables(_config())
  x = jax.random.uniform(jax.random.PRNGKey(0), (BATCH, 28, 28, 1))
  z = jax.random.uniform(jax.random.PRNGKey(1), (BATCH, 50), minval=-1, maxval=1)
  z_hat = _apply(run, state, 'encoder', x * 100, jnp.zeros_like(z))
  assert z_hat.shape == (BATCH, 50) and np.all(np.abs(z_hat) <= 1)  # squashed: uniform prior
  x_tilde = _apply(run, state, 'generator', z)
  assert x_tilde.shape == (BATCH, 28, 28, 1) and np.all((x_tilde > 0) & (x_tilde < 1))
  assert _apply(run, state, 'discriminator', x, z).shape == (BATCH,)
  # z reaches D only through the W z of its second layer: zero that map and D
  # ignores z; G still sees z through its first layer when its W z is zeroed.
  def without_z_map(name, index):
    params = jax.tree_util.tree_map_with_path(
        lambda path, p: jnp.zeros_like(p) if f'Dense_{index}' in str(path) else p,
        getattr(state, name).params)
    return state.replace(**{name: getattr(state, name).replace(params=params)})
  d_state = without_z_map('discriminator', 2)
  np.testing.assert_allclose(_apply(run, d_state, 'discriminator', x, z),
                             _apply(run, d_state, 'discriminator', x, -z), rtol=1e-6)
  assert not np.allclose(_apply(run, state, 'discriminator', x, z),
                         _apply(run, state, 'discriminator', x, -z))
  g_state = without_z_map('generator', 2)
  assert not np.allclose(_apply(run, g_state, 'generator', z),
                         _apply(run, g_state, 'generator', -z))


@pytest.mark.parametrize('method, changes', [
    ('bigan', {}),
    ('ali', {'model.encoder': 'gaussian', 'model.prior': 'gaussian'}),
    ('ali', {'model.encoder': 'gaussian', 'model.prior': 'gaussian',
             'model.encoder_sigma': 'sigmoid'}),  # representation_comparison's ali_bounded_sigma
    ('autoencoder', {}),
])
def test_a_step_on_bigan_networks(method, changes):
  config = _config(method=method, **changes)
  validation.check_config(config, device_count=NUM_DEVICES)
  run, state = _variables(config)
  batch = next(data.load_dataset(config).batches(0, global_batch_size=config.batch_size))
  new_state, metrics = jax.jit(run_setup.RunSetup(config, axis_name=None).train_step(
      run.phases[0]))(state, batch)
  assert all(np.isfinite(v) for v in jax.device_get(metrics).values())
  assert int(new_state.step) == 1


@pytest.mark.parametrize('rule, sigma', [('exp', np.exp(3)), ('softplus', np.log1p(np.exp(3))),
                                         ('sigmoid', 1 / (1 + np.exp(-3)))])
def test_a_gaussian_encoders_sigma_follows_its_rule(rule, sigma):
  """With the last layer's output a = 3: sigma(a) by the rule, z = mu + sigma * noise, and the
  sown log sigma its log (what the inference API and the KL read)."""
  encoder = bigan_networks.Encoder(0.02, kind=choices.GAUSSIAN_ENCODER, sigma=rule)
  x = jax.random.uniform(jax.random.PRNGKey(0), (BATCH, 28, 28, 1))
  noise = jax.random.normal(jax.random.PRNGKey(1), (BATCH, choices.BIGAN_MLP_LATENT_DIM))
  variables = encoder.init(jax.random.PRNGKey(2), x, noise, train=False)
  last = variables['params']['Dense_2']  # [mu, a] = 3 for every image
  last['kernel'], last['bias'] = jnp.zeros_like(last['kernel']), jnp.full_like(last['bias'], 3)
  z, sown = encoder.apply(variables, x, noise, train=False, mutable=['intermediates'])
  mu, log_sigma = np.split(common.sown(sown['intermediates'], common.MU_LOG_SIGMA)[0], 2, -1)
  np.testing.assert_allclose(np.exp(log_sigma), sigma, rtol=1e-6)
  np.testing.assert_allclose(z, mu + sigma * noise, rtol=1e-6)
  assert np.all(np.exp(log_sigma) < 1) == (rule == 'sigmoid')


@pytest.mark.parametrize('changes, message', [
    ({'model.dropout_rate': 0.2}, 'has no dropout'),
    ({'model.condition_dim': 40}, 'has no condition'),
])
def test_config_mistakes_are_named(changes, message):
  config = _config(**changes)
  with pytest.raises(ValueError, match=message):
    validation.check_config(config, device_count=NUM_DEVICES)


def test_the_digits_variant_reads_32x32_images():
  config = bigan_digits_mlp.get_config()
  config.data_source, config.batch_size = 'fake', BATCH * NUM_DEVICES
  validation.check_config(config, device_count=NUM_DEVICES)
  run, state = _variables(config)
  assert _kernel_shapes(state.encoder.params)[0] == (32 * 32, 1024)
  assert _kernel_shapes(state.generator.params)[-1] == (1024, 32 * 32)
  z = jax.random.uniform(jax.random.PRNGKey(1), (BATCH, 50), minval=-1, maxval=1)
  assert _apply(run, state, 'generator', z).shape == (BATCH, 32, 32, 1)
  # BiGAN's 400 epochs of 128 of the 1,200 training digits (the last 300 of the 1,500
  # validate); the rest is BiGAN's setup.
  assert config.num_train_steps == 3_750
  mnist = bigan_mnist_mlp.get_config()
  assert (config.optimizer, config.model) == (mnist.optimizer, mnist.model)


def test_the_config_is_bigans_setup():
  config = bigan_mnist_mlp.get_config()
  o = config.optimizer
  assert (o.learning_rate, o.b1, o.weight_decay, config.batch_size) == (2e-4, 0.5, 2.5e-5, 128)
  assert (o.schedule, o.decay_start_fraction, o.final_learning_rate_scale) == (
      'exponential', 0.5, 0.01)
  assert (config.model.prior, config.model.encoder, config.model.latent_dim) == (
      'uniform', 'deterministic', choices.BIGAN_MLP_LATENT_DIM)
