"""The pure train step: (state, batch) -> (state, metrics).

As in the paper's code, ONE forward pass on ONE minibatch gives every player's
gradient, and all trained networks are updated simultaneously. D sees the real
pairs (x, E(x)) and the fake pairs (G(z), z) in a single call (its batch norm
statistics cover the joint batch: ALI's code) or in one call each (BiGAN's code),
as model.discriminator_batches says. What each network minimises comes
from an methods.Objective (ALI, BiGAN and the paper's comparisons).
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ali_jax import losses as losses_lib
from ali_jax.models import common
from ali_jax.models import priors
from ali_jax.models import remat as remat_lib
from ali_jax.settings import choices


LABELLED_NOISE_STREAM = 0x1AB  # fold_in(step key, this): the labelled batch's encoder noise
INSTANCE_NOISE_STREAM = 0x1D5  # fold_in(step key, this): instance noise on D's inputs


class Labelled(NamedTuple):
  """This device's labelled batch: images, integer labels and encoder noise."""
  x: jax.Array
  labels: jax.Array
  noise: jax.Array


def _device_slice(global_array, device_index, size):
  return jax.lax.dynamic_slice_in_dim(global_array, device_index * size, size)


def _update(network_state, grads, new_batch_stats, optimizer):
  updates, opt_state = optimizer.update(grads, network_state.opt_state,
                                        network_state.params)
  return network_state.replace(params=optax.apply_updates(network_state.params, updates),
                               batch_stats=new_batch_stats, opt_state=opt_state)


class NetworkCalls:
  """The three networks as functions inside a loss, for one step.

  Trained networks (those in `params`) run in training mode and the batch
  statistics of their FIRST call become their new population statistics
  (later calls, such as ALICE's cycle, only read; D's separate calls under
  discriminator_batches='separate' move them in turn); frozen networks run in
  inference mode with their saved parameters.
  """

  def __init__(self, networks, state, params, *, dropout_key, loss_form, remat='none',
               prior=choices.GAUSSIAN_PRIOR, discriminator_batches=choices.JOINT,
               instance_noise=None, axis_name=None, pairing=True):
    """instance_noise: None, or (std, key): N(0, std^2) added to x and z of every pair
    that D trains on (discriminate_batches). axis_name: the step's device axis (None
    under jit), over which the pairing's codes are rolled. pairing: whether `pairing`
    computes the diagnostic (False: {}, no D call)."""
    self._networks = networks
    self._pairing = pairing
    self._axis_name = axis_name
    self._instance_noise = instance_noise
    self.discriminated = None  # the pairs of this step's first discriminate_batches
    self.discriminator_batches = discriminator_batches
    self._remat = remat
    self.prior = prior
    self._state = state
    self._params = params
    self._dropout_key = dropout_key
    self.loss_form = loss_form
    self.new_batch_stats = {}

  def _apply(self, name, *args, collect_intermediates=False, continue_statistics=False,
             call_index=0):
    """continue_statistics: start from the population statistics that this step's
    earlier call left (and keep this call's), as a second training batch would.
    call_index: a later call of the same batch of calls draws its own dropout masks."""
    saved = getattr(self._state, name)
    trained = name in self._params
    continued = continue_statistics and trained and name in self.new_batch_stats
    variables = {'params': self._params[name] if trained else saved.params,
                 'batch_stats': self.new_batch_stats[name] if continued else saved.batch_stats}
    mutable = (['batch_stats'] if trained else []) + (
        ['intermediates'] if collect_intermediates else [])
    network = getattr(self._networks, name)

    def apply(variables, args, dropout_key):
      return network.apply(variables, *args, train=trained, mutable=mutable,
                           rngs={'dropout': dropout_key})

    dropout_key = (jax.random.fold_in(self._dropout_key, call_index) if call_index
                   else self._dropout_key)
    output, new_variables = remat_lib.rematerialised(apply, self._remat)(
        variables, args, dropout_key)
    if continued:
      self.new_batch_stats[name] = new_variables.get('batch_stats', {})
    elif trained:
      self.new_batch_stats.setdefault(name, new_variables.get('batch_stats', {}))
    return output, new_variables.get('intermediates', {})

  def encode(self, x, noise, y=None):
    return self._apply('encoder', x, noise, y)[0]

  def encode_gaussian(self, x, noise, y=None):
    """(z, mu, log_sigma) of a 'gaussian' encoder."""
    z, intermediates = self._apply('encoder', x, noise, y, collect_intermediates=True)
    mu, log_sigma = jnp.split(common.sown(intermediates, common.MU_LOG_SIGMA)[0],
                              2, axis=-1)
    return z, mu, log_sigma

  def encode_with_posterior(self, x, noise, y=None):
    """(z, {posterior metrics}): losses.posterior_metrics of a 'gaussian' encoder's
    q(z|x) on the global batch (gathered over the device axis), {} for an encoder without a
    sigma. Metrics only: the intermediates come from the same call as z."""
    z, intermediates = self._apply('encoder', x, noise, y, collect_intermediates=True)
    try:
      mu_log_sigma = common.sown(intermediates, common.MU_LOG_SIGMA)[0]
    except KeyError:
      return z, {}
    mu_log_sigma = jax.lax.stop_gradient(mu_log_sigma)
    if self._axis_name is not None:  # Var_x(mu) over the global batch, as on one device
      mu_log_sigma = jax.lax.all_gather(mu_log_sigma, self._axis_name, tiled=True)
    return z, losses_lib.posterior_metrics(*jnp.split(mu_log_sigma, 2, axis=-1))

  def encode_pre_squash(self, x, noise, y=None):
    """A non-Gaussian encoder's output before priors.squash (under the uniform
    prior: the logits a of z = 2 sigmoid(a) - 1)."""
    _, intermediates = self._apply('encoder', x, noise, y, collect_intermediates=True)
    return common.sown(intermediates, common.PRE_SQUASH)[0]

  def decode(self, z, y=None):
    return self._apply('generator', z, y)[0]

  def discriminate(self, x, z, y=None):
    return self._apply('discriminator', x, z, y)[0]

  def discriminate_inference(self, x, z, y=None):
    """D's outputs in inference mode (the statistics that training kept, no dropout), with
    this step's parameters held constant: for metrics, which move nothing."""
    variables = {'params': jax.lax.stop_gradient(self._params.get(
        'discriminator', self._state.discriminator.params)),
                 'batch_stats': self._state.discriminator.batch_stats}
    return self._networks.discriminator.apply(variables, x, z, y, train=False)

  def pairing(self, x, z_hat, y=None, real_logit=lambda outputs: outputs):
    """losses.pairing_metrics of D in inference mode on this batch: (x_i, z_hat_i) against
    (x_i, z_hat_{i-1}), the codes rolled by one over the global batch (across devices, so
    that n devices give one device's numbers).
    real_logit: D's outputs -> its real/fake logit (K+1 and BigBiGAN Ds give more).
    {} in a step built without it (make_train_step's pairing=False)."""
    if not self._pairing:
      return {}
    z_hat = jax.lax.stop_gradient(z_hat)
    if self._axis_name is None:
      previous = jnp.roll(z_hat, 1, axis=0)
    else:
      everyone = jnp.roll(jax.lax.all_gather(z_hat, self._axis_name, tiled=True), 1, axis=0)
      previous = _device_slice(everyone, jax.lax.axis_index(self._axis_name), len(z_hat))
    both = lambda a, b: None if a is None else jnp.concatenate([a, b])
    outputs = self.discriminate_inference(both(x, x), both(z_hat, previous), both(y, y))
    matched, mismatched = jnp.split(real_logit(outputs), 2)
    return losses_lib.pairing_metrics(matched, mismatched)

  def discriminate_batches(self, *batches):
    """D's outputs on each of `batches` ((x, z, y) each; y may be None), as
    model.discriminator_batches says: one call on all of them (batch norm shares their
    statistics), or one call each with its own statistics. Separately, the population
    statistics move with each batch in turn, as over consecutive training batches."""
    batches = self._with_instance_noise(batches)
    if self.discriminated is None:
      self.discriminated = batches
    if self.discriminator_batches == choices.SEPARATE:
      return [self._apply('discriminator', *batch, continue_statistics=True, call_index=i)[0]
              for i, batch in enumerate(batches)]
    xs, zs, ys = zip(*batches)
    y = None if ys[0] is None else jnp.concatenate(ys)
    outputs = self.discriminate(jnp.concatenate(xs), jnp.concatenate(zs), y)
    return jnp.split(outputs, np.cumsum([len(x) for x in xs])[:-1])

  def _with_instance_noise(self, batches):
    if self._instance_noise is None:
      return batches
    std, key = self._instance_noise
    noisy = []
    for i, (x, z, y) in enumerate(batches):
      x_key, z_key = jax.random.split(jax.random.fold_in(key, i))
      noisy.append((x + std * jax.random.normal(x_key, x.shape, x.dtype),
                    z + std * jax.random.normal(z_key, z.shape, z.dtype), y))
    return noisy

  def real_pair_gradient_penalty(self, real_logit):
    """R1 (Mescheder et al. 2018) over both of D's inputs: the mean over the real pairs
    (x_i, z_i) of ||g_x,i||^2 + ||g_z,i||^2, g the gradient of the sum of their
    real_logit(D(x, z)) with respect to x_i and z_i.

    The real pairs are the first batch of this step's first discriminate_batches call,
    and D runs as that call ran it (training mode, the same batch around them under
    'joint' batches, the same dropout masks, instance noise included), so the penalty is
    on the function D's loss saw. Without batch norm in D (the mixture's) g_i is pair
    i's own gradient; with it, g_i also carries the pair's part in the batch statistics.
    Its gradient reaches D only.
    """
    if self.discriminated is None:
      raise ValueError('R1 needs the real pairs of a discriminate_batches call; this '
                       "method's losses made none.")
    (x, z, y), others = self.discriminated[0], jax.lax.stop_gradient(self.discriminated[1:])
    variables = {'params': self._params['discriminator'],
                 'batch_stats': self._state.discriminator.batch_stats}
    joint = self.discriminator_batches == choices.JOINT

    def real_logit_sum(x, z):
      batches = [(x, z, y)] + (list(others) if joint else [])
      xs, zs, ys = zip(*batches)
      outputs, _ = self._networks.discriminator.apply(
          variables, jnp.concatenate(xs), jnp.concatenate(zs),
          None if y is None else jnp.concatenate(ys), train=True, mutable=['batch_stats'],
          rngs={'dropout': self._dropout_key})
      return jnp.sum(real_logit(outputs[:len(x)]))

    grad_x, grad_z = jax.grad(real_logit_sum, argnums=(0, 1))(
        jax.lax.stop_gradient(x), jax.lax.stop_gradient(z))
    return jnp.mean(losses_lib.per_example_sum(grad_x ** 2)
                    + losses_lib.per_example_sum(grad_z ** 2))


def own_loss_gradients(objective, losses_of, params):
  """(loss terms, {network: the gradient of its own loss alone}, aux) at `params`.

  losses_of: params -> (terms {name: scalar}, aux), the objective's losses.
  One pullback per distinct loss, seeded with 1 for that loss and 0 for the rest,
  gives each network the gradient of its own loss only. Networks that share a
  loss (ALI's E and G) share a pullback; under jit the parts of a pullback that
  no network uses are dead code.
  """
  terms, pullback, aux = jax.vjp(losses_of, params, has_aux=True)
  grads = {}
  for loss_name in sorted(set(objective.minimises.values())):
    seed = {k: jnp.ones_like(v) if k == loss_name else jnp.zeros_like(v)
            for k, v in terms.items()}
    (loss_grads,) = pullback(seed)
    grads.update({name: loss_grads[name] for name in params
                  if objective.minimises[name] == loss_name})
  return terms, grads, aux


def make_train_step(networks, optimizers, objective, *, latent_dim,
                    loss_form=choices.NON_SATURATING, axis_name=None,
                    skip_nonfinite=False, average_decay=0.0, remat='none',
                    prior=choices.GAUSSIAN_PRIOR, discriminator_batches=choices.JOINT,
                    regularisers=None, pairing=True):
  """Returns train_step(state, batch) for jit (axis_name=None) or pmap.

  `objective` (methods.Objective) says what each trained network minimises;
  the others are left exactly as they are (no optimizer update either).

  `batch` holds 'x' (and 'y' for conditional models; 'x_labelled' and 'label'
  for methods that learn from labels, passed to the losses as `labelled`).
  Under pmap, `batch['x']` is this device's part of the global batch; gradients
  and metrics are averaged over `axis_name`, and batch norm (built with the
  same axis name) normalises over the global batch. The prior and encoder
  noise are drawn for the global batch from the step's key and sliced per
  device, so a step on n devices is the same maths as on one device with the
  same global batch (dropout masks, drawn per device, are the exception).

  A state with averages (state.TrainStateWithAverages) moves each average
  towards its network's new parameters: a <- decay a + (1 - decay) p, with
  decay = `average_decay`.

  remat: what each network's backward pass keeps (models/remat.py; the same maths).
  prior: what z is drawn from (models/priors.py).
  discriminator_batches: D on the real and generated pairs in one call or one each
  (choices.DISCRIMINATOR_BATCHES).
  regularisers: D's (settings/run_settings.RegulariserSettings; None: none). With R1, D
  descends 'discriminator_objective' = its loss + r1_gamma / 2 * 'r1_penalty'; instance
  noise draws from its own stream and, like dropout, per device.
  pairing: whether the step computes the pairing diagnostic (NetworkCalls.pairing: one
  more D call on twice the batch, 7-17 % of the step's FLOPs); the trainer runs the step
  with it once per logging window and the one without it otherwise.
  """
  trained = tuple(name for name in choices.NETWORK_NAMES if name in objective.minimises)
  r1_gamma = regularisers.r1_gamma if regularisers else 0.0
  noise_std = regularisers.instance_noise_std if regularisers else 0.0
  noise_anneal_steps = regularisers.instance_noise_anneal_steps if regularisers else 0
  discriminator_loss = objective.minimises.get('discriminator')
  penalised = bool(r1_gamma and discriminator_loss)  # a phase that trains D
  if penalised:
    objective = objective._replace(minimises={**objective.minimises,
                                              'discriminator': 'discriminator_objective'})

  def train_step(state, batch):
    x = batch['x']
    y = batch.get('y')  # conditions (CelebA attributes) or None
    per_device = x.shape[0]
    if axis_name is None:
      device_index, num_devices = 0, 1
    else:
      device_index = jax.lax.axis_index(axis_name)
      num_devices = jax.lax.psum(1, axis_name)
    step_key = jax.random.fold_in(state.rng, state.step)
    prior_key, encoder_key, dropout_key = jax.random.split(step_key, 3)
    global_shape = (num_devices * per_device, latent_dim)
    z = _device_slice(priors.sample(prior_key, global_shape, prior), device_index, per_device)
    encoder_noise = _device_slice(jax.random.normal(encoder_key, global_shape),
                                  device_index, per_device)
    dropout_key = jax.random.fold_in(dropout_key, device_index)
    # Methods that learn from labels get a labelled batch too, and encoder noise
    # for it from a key of its own (so the other draws match unlabelled methods').
    extra = {}
    if 'x_labelled' in batch:
      labelled_shape = (num_devices * batch['x_labelled'].shape[0], latent_dim)
      labelled_noise = _device_slice(
          jax.random.normal(jax.random.fold_in(step_key, LABELLED_NOISE_STREAM),
                            labelled_shape),
          device_index, batch['x_labelled'].shape[0])
      extra['labelled'] = Labelled(batch['x_labelled'], batch['label'], labelled_noise)

    instance_noise = None
    if noise_std:
      decay = (jnp.maximum(0.0, 1.0 - state.step / noise_anneal_steps) if noise_anneal_steps
               else 1.0)
      instance_noise = (noise_std * decay, jax.random.fold_in(
          jax.random.fold_in(step_key, INSTANCE_NOISE_STREAM), device_index))

    def objective_terms(params):
      calls = NetworkCalls(networks, state, params, dropout_key=dropout_key,
                           loss_form=loss_form, remat=remat, prior=prior,
                           discriminator_batches=discriminator_batches,
                           instance_noise=instance_noise, axis_name=axis_name,
                           pairing=pairing)
      terms = objective.losses(calls, x, y, z, encoder_noise, **extra)
      if penalised:
        terms['r1_penalty'] = calls.real_pair_gradient_penalty(objective.real_logit)
        terms['discriminator_objective'] = (terms[discriminator_loss]
                                            + r1_gamma / 2 * terms['r1_penalty'])
      if instance_noise is not None:
        terms['instance_noise_std'] = jnp.asarray(instance_noise[0], jnp.float32)
      return terms, calls.new_batch_stats

    params = {name: getattr(state, name).params for name in trained}
    terms, grads, new_batch_stats = own_loss_gradients(objective, objective_terms, params)
    metrics = dict(terms)
    if axis_name is not None:
      grads = jax.lax.pmean(grads, axis_name)
      metrics = jax.lax.pmean(metrics, axis_name)
    metrics.update({f'grad_norm_{name}': optax.tree.norm(grads[name]) for name in trained})

    finite = jnp.all(jnp.isfinite(jnp.stack(
        [value for name, value in metrics.items() if name not in losses_lib.DIAGNOSTICS])))
    metrics['nonfinite_update'] = 1.0 - finite.astype(jnp.float32)

    new_state = state.replace(step=state.step + 1, **{
        name: _update(getattr(state, name), grads[name], new_batch_stats[name],
                      getattr(optimizers, name)) for name in trained})
    if hasattr(state, 'averages'):
      new_state = new_state.replace(averages={
          name: jax.tree.map(lambda a, p: average_decay * a + (1 - average_decay) * p,
                             average, getattr(new_state, name).params)
          for name, average in state.averages.items()})
    if skip_nonfinite:
      unchanged = state.replace(step=new_state.step)
      new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                               new_state, unchanged)
    return new_state, metrics

  return train_step
