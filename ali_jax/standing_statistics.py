"""Standing batch-norm statistics: each network's statistics recomputed before it is used.

A network in inference mode normalises with the population statistics that
training kept (a moving average of batch statistics). Two cases make those the
wrong ones:
  - averaged weights (config.parameter_average): the statistics were kept for
    the live parameters, not their average; BigGAN (Brock et al. 2019)
    recomputes "standing statistics" for its averaged G;
  - BiGAN's released code re-estimates every network's statistics before it
    evaluates (--deploy_iters, 50 batches).
Standing statistics are the mean, over `evaluation.standing_statistics_batches`
training batches, of each batch-norm layer's batch mean and variance, with the
parameters that inference uses; which networks get them is
`evaluation.standing_statistics_for` ('averaged' or 'all'). The batches are the
first of the run's training order (the same data, prior and noise draws every
time), so the evaluation and `ali_jax.load` compute the same statistics.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ali_jax import networks as networks_lib
from ali_jax import priors

AVERAGED = 'averaged'
ALL = 'all'
CHOICES = (AVERAGED, ALL)
SEED = 0x57A7  # the prior, encoder noise and dropout draws of the standing batches


def networks_to_recompute(config, averaged_networks):
  """The names of the networks whose statistics `config` recomputes."""
  evaluation = config.get('evaluation', {})
  if not evaluation.get('standing_statistics_batches', 0):
    return ()
  if evaluation.get('standing_statistics_for', AVERAGED) == ALL:
    return networks_lib.NETWORK_NAMES
  return tuple(averaged_networks)


def batch_statistics(network, momentum=networks_lib.BATCH_NORM_MOMENTUM):
  """(variables, dropout_key, *inputs) -> every batch-norm layer's statistics of this batch.

  flax's BatchNorm moves its population statistics p to m p + (1 - m) batch: from
  p = 0, one training-mode call leaves (1 - m) times the batch's own statistics.
  `network` must be built without a device axis (one process, one device).
  """
  def statistics(variables, dropout_key, *inputs):
    zeros = jax.tree.map(jnp.zeros_like, variables['batch_stats'])
    _, updated = network.apply({'params': variables['params'], 'batch_stats': zeros},
                               *inputs, train=True, mutable=['batch_stats'],
                               rngs={'dropout': dropout_key})
    return jax.tree.map(lambda s: s / (1 - momentum), updated['batch_stats'])
  return statistics


def recompute(run, variables, batches, names):
  """{name: standing batch_stats} of the networks `names`, over the training `batches`.

  run: the run's run_setup.RunSetup; variables: {name: {'params', 'batch_stats'}} as
  inference uses them. D's batches are pairs as in training: (x, E(x)) and (G(z), z),
  in one batch or two (model.discriminator_batches), E and G as `variables` give them.
  """
  config = run.config
  key = jax.random.PRNGKey(SEED)
  totals, count = {}, 0
  variables = dict(variables)
  for i, batch in enumerate(batches):
    prior_key, noise_key, dropout_key = jax.random.split(jax.random.fold_in(key, i), 3)
    x = np.asarray(batch['x'])
    y = () if batch.get('y') is None else (np.asarray(batch['y']),)
    shape = (len(x), run.latent_dim)
    noise = jax.random.normal(noise_key, shape)
    z = priors.sample(prior_key, shape, run.prior)
    inputs = {'encoder': (x, noise, *y), 'generator': (z, *y)}
    if 'discriminator' in names:
      z_hat = run.jitted_encoder()(variables['encoder'], x, noise, *y)
      x_tilde = run.jitted_generator()(variables['generator'], z, *y)
      pairs = [(x, z_hat, *y), (x_tilde, z, *y)]
      if config.model.discriminator_batches == networks_lib.JOINT:
        pairs = [tuple(np.concatenate(parts) for parts in zip(*pairs))]
    for name in names:
      calls = [inputs[name]] if name != 'discriminator' else pairs
      for call in calls:
        stats = run.jitted_batch_statistics(name)(variables[name], dropout_key, *call)
        stats = jax.tree.map(lambda s: s / len(calls), stats)
        totals[name] = stats if name not in totals else jax.tree.map(jnp.add, totals[name],
                                                                      stats)
    count += 1
  if not count:
    raise ValueError('No training batches to compute standing statistics from.')
  return {name: jax.tree.map(lambda s: s / count, total) for name, total in totals.items()}
