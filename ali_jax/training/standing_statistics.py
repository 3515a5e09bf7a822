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
`evaluation.standing_statistics_for` ('averaged' or 'all'; D only where it classifies at
inference, in the labelled methods). Other state in the batch_stats collection
(spectral normalisation's power-iteration vectors) is kept as saved. The batches are the
first of the run's training order (the same data, prior and noise draws every
time), so the evaluation and `ali_jax.load` compute the same statistics.
"""
import itertools

import jax
import jax.numpy as jnp
import numpy as np

from ali_jax import data
from ali_jax.models import common
from ali_jax.models import priors
from ali_jax.settings import choices

SEED = 0x57A7  # the prior, encoder noise and dropout draws of the standing batches


def networks_to_recompute(settings):
  """The names of the networks whose statistics a run of `settings` (a RunSettings)
  recomputes: the averaged ones or all, less D where it plays no part in inference (only
  the labelled methods' D classifies)."""
  evaluation = settings.evaluation
  if not evaluation.standing_statistics_batches:
    return ()
  for_all = evaluation.standing_statistics_for == choices.ALL_NETWORKS
  names = choices.NETWORK_NAMES if for_all else settings.averaged_networks
  return tuple(name for name in names
               if name != 'discriminator' or settings.method in choices.LABELLED_METHODS)


def _is_batch_norm_statistic(path):
  """Whether a batch_stats leaf is a batch-norm mean or variance (the collection also
  holds other state, e.g. spectral normalisation's power-iteration vectors)."""
  return getattr(path[-1], 'key', None) in ('mean', 'var')


def batch_statistics(network, momentum=common.BATCH_NORM_MOMENTUM):
  """(variables, dropout_key, *inputs) -> the batch_stats collection with every batch-norm
  mean and variance replaced by this batch's own (other state kept as saved).

  flax's BatchNorm moves its population statistics p to m p + (1 - m) batch: from
  p = 0, one training-mode call leaves (1 - m) times the batch's own statistics.
  `network` must be built without a device axis (one process, one device).
  """
  map_with_path = jax.tree_util.tree_map_with_path

  def statistics(variables, dropout_key, *inputs):
    saved = variables['batch_stats']
    zeroed = map_with_path(lambda path, s: jnp.zeros_like(s) if _is_batch_norm_statistic(path)
                           else s, saved)
    _, updated = network.apply({'params': variables['params'], 'batch_stats': zeroed},
                               *inputs, train=True, mutable=['batch_stats'],
                               rngs={'dropout': dropout_key})
    return map_with_path(lambda path, new, old: new / (1 - momentum)
                         if _is_batch_norm_statistic(path) else old,
                         updated['batch_stats'], saved)
  return statistics


def _discriminator_inputs(method, x, y, z, noise, batch, encode, decode):
  """D's batches of one standing step, as its method's training step gives them (the
  labelled pairs with the encoder mean, as D classifies them at inference)."""
  labelled_x = batch['x_labelled']
  labelled = (labelled_x, encode(labelled_x, np.zeros((len(labelled_x), noise.shape[1]),
                                                      np.float32)))
  if method == choices.SUPERVISED:
    return [labelled]
  return [(x, encode(x, noise, *y), *y), (decode(z, *y), z, *y), labelled]


def recompute(run, variables, batches, names):
  """{name: standing batch_stats} of the networks `names`, over the training `batches`.

  run: the run's run_setup.RunSetup; variables: {name: {'params', 'batch_stats'}} as
  inference uses them. D's batches are its method's training batches (E and G as
  `variables` give them), in one batch or one per kind as model.discriminator_batches
  says.
  """
  key = jax.random.PRNGKey(SEED)
  encode = lambda *a: run.jitted_encoder()(variables['encoder'], *a)
  decode = lambda *a: run.jitted_generator()(variables['generator'], *a)
  totals, count = {}, 0
  for i, batch in enumerate(batches):
    prior_key, noise_key, dropout_key = jax.random.split(jax.random.fold_in(key, i), 3)
    x = np.asarray(batch['x'])
    y = () if batch.get('y') is None else (np.asarray(batch['y']),)
    shape = (len(x), run.latent_dim)
    noise = jax.random.normal(noise_key, shape)
    z = priors.sample(prior_key, shape, run.prior)
    calls = {'encoder': [(x, noise, *y)], 'generator': [(z, *y)]}
    if 'discriminator' in names:
      pairs = _discriminator_inputs(run.settings.method, x, y, z, noise, batch, encode,
                                    decode)
      if run.settings.model.discriminator_batches == choices.JOINT:
        pairs = [tuple(np.concatenate(parts) for parts in zip(*pairs))]
      calls['discriminator'] = pairs
    for name in names:
      for inputs in calls[name]:
        stats = run.jitted_batch_statistics(name)(variables[name], dropout_key, *inputs)
        stats = jax.tree.map(lambda s, n=len(calls[name]): s / n, stats)
        totals[name] = stats if name not in totals else jax.tree.map(jnp.add, totals[name],
                                                                      stats)
    count += 1
  if not count:
    raise ValueError('No training batches to compute standing statistics from.')
  # Other state in batch_stats (spectral normalisation's) is as saved in every batch.
  return {name: jax.tree_util.tree_map_with_path(
      lambda path, total, saved: total / count if _is_batch_norm_statistic(path) else saved,
      total, variables[name]['batch_stats']) for name, total in totals.items()}


def standing_batches(settings, dataset=None):
  """The training batches that standing statistics are computed on (the first of the
  run's order, all of each global batch), if a run of `settings` (a RunSettings)
  recomputes any; else None. dataset: the run's, or None to load it."""
  if not networks_to_recompute(settings):
    return None
  dataset = dataset or data.load_dataset(settings.data)
  return itertools.islice(dataset.batches(0, global_batch_size=settings.batch_size),
                          settings.evaluation.standing_statistics_batches)
