"""TrainState: the three players' parameters, optimizer states and BN statistics."""
import flax
import jax
import jax.numpy as jnp
import optax

from ali_jax import data
from ali_jax import networks as networks_lib
from ali_jax import objectives


@flax.struct.dataclass
class NetworkState:
  """One network's trainable parameters, its optimizer state and BN statistics."""
  params: flax.core.FrozenDict
  batch_stats: flax.core.FrozenDict
  opt_state: optax.OptState


@flax.struct.dataclass
class TrainState:
  """Everything a run needs to continue exactly.

  `rng` is the run's base key and never changes: step s uses fold_in(rng, s), so
  the randomness of a step does not depend on where a run was resumed.
  """
  step: jax.Array
  rng: jax.Array
  encoder: NetworkState
  generator: NetworkState
  discriminator: NetworkState


LEARNING_RATE_SCHEDULES = ('constant', 'cosine')


def learning_rate_schedule(optimizer_config, num_train_steps, scale=1.0):
  """'constant' (the paper) or 'cosine': decay to 0 at the last step; times `scale`."""
  peak = optimizer_config.learning_rate * scale
  if optimizer_config.schedule == 'constant':
    return peak
  if optimizer_config.schedule == 'cosine':
    return optax.cosine_decay_schedule(peak, num_train_steps)
  raise ValueError(f'config.optimizer.schedule={optimizer_config.schedule!r}; expected '
                   f'one of {LEARNING_RATE_SCHEDULES}.')


def make_optimizers(config, phase=objectives.SINGLE_PHASE):
  """One Adam per network (the paper: Adam(1e-4, beta1=0.5, beta2=0.999)).

  The discriminator's learning rate is optimizer.learning_rate times
  optimizer.discriminator_learning_rate_scale (1 in the paper; runs made before
  the field existed had 1). A decaying schedule spans the steps of `phase`.
  The networks that a two-phase method trains in its inference phase start it
  with optimizer states that never took a step (the encoder; post-hoc's new
  D), so their schedule starts afresh there.
  """
  def adam(scale=1.0):
    return optax.adam(
        learning_rate_schedule(config.optimizer, objectives.phase_steps(config, phase),
                               scale),
        b1=config.optimizer.b1, b2=config.optimizer.b2)
  d_scale = config.optimizer.get('discriminator_learning_rate_scale', 1.0)
  return networks_lib.Networks(encoder=adam(), generator=adam(),
                               discriminator=adam(d_scale))


def _init_network_state(variables, optimizer):
  params = variables['params']
  return NetworkState(params=params, batch_stats=variables.get('batch_stats', {}),
                      opt_state=optimizer.init(params))


def condition_dim(config):
  """Size of the conditioning vector y (CelebA's 40 attributes), 0 if unconditional."""
  return config.model.get('condition_dim', 0)


def _init_network_states(config, key):
  """Freshly initialised NetworkStates of the three networks, from `key`."""
  networks = networks_lib.build_networks(config.model, data_shape=data.data_shape(config))
  optimizers = make_optimizers(config)
  encoder_key, generator_key, discriminator_key = jax.random.split(key, 3)
  x = jnp.zeros((1,) + data.data_shape(config), jnp.float32)
  z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
  y = jnp.zeros((1, condition_dim(config)), jnp.float32) if condition_dim(config) else None
  return networks_lib.Networks(
      encoder=_init_network_state(
          networks.encoder.init(encoder_key, x, z, y, train=False), optimizers.encoder),
      generator=_init_network_state(networks.generator.init(generator_key, z, y, train=False),
                                    optimizers.generator),
      discriminator=_init_network_state(
          networks.discriminator.init(discriminator_key, x, z, y, train=False),
          optimizers.discriminator))


def create_train_state(config):
  """The state at step 0: all three networks initialised from `config.seed`.

  An image generator's per-pixel output bias starts at 0 here; the trainer then
  sets it from the data (with_output_bias_from), as the paper does with 500
  training images.
  """
  rng = jax.random.PRNGKey(config.seed)
  encoder, generator, discriminator = _init_network_states(
      config, jax.random.fold_in(rng, 0x1A11))
  return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, encoder=encoder,
                    generator=generator, discriminator=discriminator)


def with_fresh_discriminator(state, config):
  """`state` with a newly initialised discriminator and its optimizer state.

  Post-hoc inference trains a new joint D against the frozen generator; the
  key depends only on the seed, so a resumed run draws the same D.
  """
  fresh = _init_network_states(config, jax.random.fold_in(state.rng, 0xD15C))
  return state.replace(discriminator=fresh.discriminator)


def with_output_bias_from(state, images):
  """`state` with the image generator's per-pixel bias at the log-odds of the images' mean.

  Adam's initial state holds zeros of the parameters' shapes, so it stays valid.
  """
  params = flax.core.unfreeze(state.generator.params)
  params[networks_lib.OUTPUT_BIAS] = jnp.asarray(networks_lib.output_bias_from_data(images))
  return state.replace(generator=state.generator.replace(params=params))
