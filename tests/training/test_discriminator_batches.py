"""model.discriminator_batches: D on both kinds of pairs in one call, or one call each."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ali_jax.models import priors
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib
from configs import bigan_mnist_mlp
from configs import digits
from configs import mixture


def test_each_family_defaults_to_its_released_code():
  assert bigan_mnist_mlp.get_config().model.discriminator_batches == choices.SEPARATE
  assert digits.get_config().model.discriminator_batches == choices.JOINT
  assert mixture.get_config().model.discriminator_batches == choices.JOINT


def _bigan_setup(batches):
  config = bigan_mnist_mlp.get_config()
  config.model.discriminator_batches = batches
  run = run_setup.RunSetup(config, axis_name=None)
  state = state_lib.create_train_state(run)
  x_key, z_key, noise_key = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.uniform(x_key, (8, 28, 28, 1))
  z = priors.sample(z_key, (8, config.model.latent_dim), config.model.prior)
  return config, run, state, x, z, jax.random.normal(noise_key, z.shape)


def _calls(run, state, params, batches):
  return step_lib.NetworkCalls(run.networks, state, params,
                               dropout_key=jax.random.PRNGKey(1),
                               loss_form=choices.NON_SATURATING, prior=choices.UNIFORM_PRIOR,
                               discriminator_batches=batches)


@pytest.mark.parametrize('batches', choices.DISCRIMINATOR_BATCHES)
def test_encoder_reaches_generated_pairs_only_through_shared_batch_statistics(batches):
  """BiGAN's D batch-normalises x-features + W z. In one joint call the real pairs'
  z = E(x) moves the batch statistics that normalise the generated pairs too, so E
  gets a gradient from D's verdict on (G(z), z), pairs it never made; in separate
  calls it gets none, as in BiGAN's code."""
  _, run, state, x, z, noise = _bigan_setup(batches)
  x_tilde = run.networks.generator.apply(
      {'params': state.generator.params, 'batch_stats': state.generator.batch_stats},
      z, train=False)

  def generated_pairs_term(encoder_params):
    calls = _calls(run, state, {'encoder': encoder_params,
                                'discriminator': state.discriminator.params}, batches)
    _, fake = calls.discriminate_batches((x, calls.encode(x, noise), None),
                                         (x_tilde, z, None))
    return jnp.mean(jax.nn.softplus(fake))  # D's loss on the generated pairs

  norm = float(optax.tree.norm(jax.grad(generated_pairs_term)(state.encoder.params)))
  if batches == choices.SEPARATE:
    assert norm == 0.0
  else:
    assert norm > 1e-6


def test_separate_calls_are_the_networks_own_calls_and_move_statistics_twice():
  _, run, state, x, z, noise = _bigan_setup(choices.SEPARATE)
  params = {'discriminator': state.discriminator.params}
  variables = {'params': state.discriminator.params,
               'batch_stats': state.discriminator.batch_stats}
  z_hat = jnp.tanh(noise)
  calls = _calls(run, state, params, choices.SEPARATE)
  real, fake = calls.discriminate_batches((x, z_hat, None), (x, z, None))
  # Each kind of pair alone through D in training mode, its statistics carried over.
  apply = lambda v, zz: run.networks.discriminator.apply(v, x, zz, train=True,
                                                         mutable=['batch_stats'])
  alone_real, after_real = apply(variables, z_hat)
  alone_fake, after_both = apply({'params': variables['params'], **after_real}, z)
  np.testing.assert_allclose(real, alone_real, rtol=1e-6)
  np.testing.assert_allclose(fake, alone_fake, rtol=1e-6)
  jax.tree.map(np.testing.assert_allclose, calls.new_batch_stats['discriminator'],
               after_both['batch_stats'])
  # One joint call: one batch's statistics, from both kinds of pairs together.
  joint_calls = _calls(run, state, params, choices.JOINT)
  joint_real, _ = joint_calls.discriminate_batches((x, z_hat, None), (x, z, None))
  assert not np.allclose(joint_real, real)
