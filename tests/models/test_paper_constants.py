"""The paper's constants that the layer tables do not show (docs/papers.md sections 2-3)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax.models import ali_architectures
from ali_jax.models import ali_networks
from ali_jax.models import common
from ali_jax.models import dropout
from ali_jax.models import mixture_networks
from ali_jax.training import trainer

# docs/papers.md section 3: the LeakyReLU slope of each dataset's networks.
PAPER_SLOPES = {'svhn': 0.01, 'cifar10': 0.1, 'celeba': 0.02, 'imagenet64': 0.01}


@pytest.mark.parametrize('name, slope', sorted(PAPER_SLOPES.items()))
def test_leaky_relu_slope_of_each_paper_dataset(name, slope):
  arch = ali_architectures.ARCHITECTURES[name]
  assert arch.leaky_relu_slope == slope
  # ... and it is the slope the layers apply: a 1x1 identity conv of -1 and 2.
  layer = ali_architectures.parse_layer('c1/1/1')
  stack = ali_networks.ConvStack((layer,), arch.leaky_relu_slope, init_std=0.01)
  variables = {'params': {'Conv_0': {'kernel': jnp.ones((1, 1, 1, 1)),
                                     'bias': jnp.zeros((1,))}}}
  out = stack.apply(variables, jnp.array([-1.0, 2.0]).reshape(2, 1, 1, 1), train=False)
  np.testing.assert_allclose(out.reshape(-1), [-slope, 2.0], rtol=1e-6)


def test_batch_norm_population_statistics_follow_momentum_095():
  """p <- 0.95 p + 0.05 batch, from the initial mean 0 and variance 1."""
  assert common.BATCH_NORM_MOMENTUM == 0.95
  generator = mixture_networks.MLPGenerator(data_dim=2, hidden=(3,))
  z = jax.random.normal(jax.random.PRNGKey(0), (64, 2))
  variables = generator.init(jax.random.PRNGKey(1), z, train=False)
  _, updated = generator.apply(variables, z, train=True, mutable=['batch_stats'])
  before_norm = z @ variables['params']['Dense_0']['kernel']  # no bias before BN
  stats = updated['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(stats['mean'], 0.05 * before_norm.mean(0), rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(stats['var'], 0.95 + 0.05 * before_norm.var(0), rtol=1e-5)


@pytest.mark.parametrize('name', sorted(PAPER_SLOPES))
def test_dropout_acts_on_the_input_of_every_discriminator_layer(name, monkeypatch):
  """Raw x and raw z included, and only in training."""
  arch = ali_architectures.ARCHITECTURES[name]
  seen = []
  original = dropout.Dropout.__call__

  def recording(module, x):
    seen.append((module.rate, module.deterministic, x.shape))
    return original(module, x)

  monkeypatch.setattr(dropout.Dropout, '__call__', recording)
  discriminator = ali_networks.ConvDiscriminator(arch, init_std=0.01, dropout_rate=0.2)
  x = jnp.zeros((2, arch.image_size, arch.image_size, arch.channels))
  z = jnp.zeros((2, arch.latent_dim))
  # What runs is decided while tracing, so tracing alone checks it (eagerly, the paper's
  # discriminators would compile op by op).
  variables = jax.eval_shape(
      lambda: discriminator.init(jax.random.PRNGKey(0), x, z, train=False))
  seen.clear()
  jax.eval_shape(lambda v: discriminator.apply(v, x, z, train=True,
                                               rngs={'dropout': jax.random.PRNGKey(1)},
                                               mutable=['batch_stats']), variables)
  layers = (arch.discriminator_x + arch.discriminator_z + arch.discriminator_joint)
  assert len(seen) == len(layers)
  assert not any(deterministic for _, deterministic, _ in seen)
  expected_rates = [0.2 if layer.dropout is None else layer.dropout for layer in layers]
  assert [rate for rate, _, _ in seen] == expected_rates
  shapes = [shape for _, _, shape in seen]
  assert shapes[0] == x.shape  # the raw image
  assert shapes[len(arch.discriminator_x)] == (2, 1, 1, arch.latent_dim)  # the raw latent
  seen.clear()
  jax.eval_shape(lambda v: discriminator.apply(v, x, z, train=False), variables)
  assert len(seen) == len(layers) and all(deterministic for _, deterministic, _ in seen)


def test_output_bias_starts_at_the_log_odds_of_500_images():
  assert trainer.INITIAL_BIAS_IMAGES == 500
  images = np.stack([np.full((2, 2, 1), 0.25), np.full((2, 2, 1), 0.75),
                     np.full((2, 2, 1), 0.5)]).astype(np.float32)
  images[:, 0, 0, 0] = [0.1, 0.1, 0.1]
  bias = common.output_bias_from_data(images)
  np.testing.assert_allclose(bias[0, 0, 0], np.log(0.1 / 0.9), rtol=1e-5)
  np.testing.assert_allclose(bias[1, 1, 0], 0.0, atol=1e-6)  # mean 0.5
