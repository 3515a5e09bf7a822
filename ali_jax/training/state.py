"""TrainState: the three players' parameters, optimizer states and BN statistics."""
from typing import Dict

import flax
import jax
import jax.numpy as jnp
import optax

from ali_jax.models import common


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


@flax.struct.dataclass
class TrainStateWithAverages(TrainState):
  """A TrainState that also keeps exponential moving averages of some networks'
  parameters (config.parameter_average), which evaluation and the inference
  API use in place of the parameters themselves.

  A class of its own, so that runs without averages keep TrainState's
  checkpoint layout (orbax restores only into the same tree).
  """
  averages: Dict[str, flax.core.FrozenDict]


def _init_network_state(variables, optimizer):
  params = variables['params']
  return NetworkState(params=params, batch_stats=variables.get('batch_stats', {}),
                      opt_state=optimizer.init(params))


def _init_network_states(run, key):
  """{name: NetworkState} of the three networks of `run` (a RunSetup), from `key`.

  Adam's state has the same structure in every phase, so the first phase's
  optimizers initialise it.
  """
  optimizers = run.optimizers(run.phases[0])
  encoder_key, generator_key, discriminator_key = jax.random.split(key, 3)
  x = jnp.zeros((1,) + run.data_shape, jnp.float32)
  z = jnp.zeros((1, run.latent_dim), jnp.float32)
  y = jnp.zeros((1, run.condition_dim), jnp.float32) if run.condition_dim else None
  networks = run.networks
  return dict(
      encoder=_init_network_state(networks.encoder.init(encoder_key, x, z, y, train=False),
                                  optimizers.encoder),
      generator=_init_network_state(networks.generator.init(generator_key, z, y, train=False),
                                    optimizers.generator),
      discriminator=_init_network_state(
          networks.discriminator.init(discriminator_key, x, z, y, train=False),
          optimizers.discriminator))


def create_train_state(run):
  """The state at step 0 of `run` (a RunSetup): all three networks from the run's seed.

  An image generator's per-pixel output bias starts at 0 here; the trainer then
  sets it from the data (with_output_bias_from), as the paper does with 500
  training images.
  """
  rng = jax.random.PRNGKey(run.settings.seed)
  networks = _init_network_states(run, jax.random.fold_in(rng, 0x1A11))
  averaged = run.settings.averaged_networks
  if not averaged:
    return TrainState(step=jnp.zeros((), jnp.int32), rng=rng, **networks)
  return TrainStateWithAverages(step=jnp.zeros((), jnp.int32), rng=rng, **networks,
                                averages={name: _copy(networks[name].params)
                                          for name in averaged})


def _copy(params):
  """New buffers with the values of `params`. An average must not share its
  parameters' buffers: the trainer's step donates the state, and a buffer
  donated twice crashes XLA."""
  return jax.tree.map(jnp.copy, params)


def _with_params(state, name, params):
  """`state` with network `name`'s parameters replaced (and its average restarted there)."""
  state = state.replace(**{name: getattr(state, name).replace(params=params)})
  if name in getattr(state, 'averages', {}):
    state = state.replace(averages={**state.averages, name: _copy(params)})
  return state


def with_fresh_discriminator(state, run):
  """`state` with a newly initialised discriminator and its optimizer state.

  Post-hoc inference trains a new joint D against the frozen generator; the
  key depends only on the seed, so a resumed run draws the same D.
  """
  fresh = _init_network_states(run, jax.random.fold_in(state.rng, 0xD15C))['discriminator']
  return _with_params(state.replace(discriminator=fresh), 'discriminator', fresh.params)


def with_output_bias_from(state, images):
  """`state` with the image generator's per-pixel bias at the log-odds of the images' mean.

  Adam's initial state holds zeros of the parameters' shapes, so it stays valid.
  """
  params = flax.core.unfreeze(state.generator.params)
  params[common.OUTPUT_BIAS] = jnp.asarray(common.output_bias_from_data(images))
  return _with_params(state, 'generator', params)
