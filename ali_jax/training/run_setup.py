"""RunSetup: what a run builds from its config, built once.

    config --RunSetup(config)--> settings (settings/run_settings.RunSettings, the
                                 config read once), data shape, networks, the
                                 method's phases, each phase's optimizers and train step

The trainer, state creation (state.py), evaluation and the inference API
(trained_model.TrainedModel), the tests and the benchmarks all take a RunSetup
instead of re-deriving these from the config, and share its compiled
functions: the pmapped step of a phase compiles once per run, and every
evaluation reuses the same jitted encoder and generator.
"""
import functools

import jax
import jax.numpy as jnp

from ali_jax.hosts import devices
from ali_jax.models import common
from ali_jax.models import registry
from ali_jax.settings import choices
from ali_jax.settings import datasets
from ali_jax.settings import run_settings
from ali_jax.training import methods
from ali_jax.training import optimizers as optimizers_lib
from ali_jax.training import standing_statistics
from ali_jax.training import step as step_lib


class RunSetup:
  """The parts of a run of `config` (checked first by config/validation.py).

  axis_name: the device axis that batch norm and the step reduce over (the
  trainer's pmap axis); None for a step run under jit on one device.
  """

  def __init__(self, config, *, axis_name=devices.AXIS_NAME):
    # The config itself only for the workdir (config.json, record.json, the checks of
    # a GAN phase's source run); everything else reads its settings, read once here.
    self.config = config
    self.settings = settings = run_settings.RunSettings.from_config(config)
    self.axis_name = axis_name
    self.data_shape = settings.data.shape
    self.latent_dim = settings.model.latent_dim
    self.prior = settings.model.prior  # choices.PRIORS
    self.is_images = settings.dataset in datasets.IMAGE_DATASETS
    # The size of the conditioning vector y (CelebA's 40 attributes); 0: unconditional.
    self.condition_dim = settings.data.condition_dim
    # The labelled methods' D gives one logit per class (choices.LABELLED_METHODS).
    self.num_classes = (datasets.SPECS[settings.dataset].num_classes
                        if settings.method in choices.LABELLED_METHODS else 0)
    self.networks = registry.build_networks(
        settings.model, data_shape=self.data_shape, axis_name=axis_name,
        discriminator_outputs=self.num_classes or 1)
    self.phases = methods.phases(settings)
    self._cache = {}

  def _cached(self, key, make):
    if key not in self._cache:
      self._cache[key] = make()
    return self._cache[key]

  # ---- Training -------------------------------------------------------------------

  def phase_at(self, step):
    """The phase that the update from `step` to `step + 1` belongs to."""
    for phase in self.phases:
      if phase.start <= step < phase.end:
        return phase
    raise ValueError(
        f'Step {step} is outside the run (0..{self.settings.num_train_steps - 1}).')

  def optimizers(self, phase):
    """The optimizers of `phase` (a decaying schedule spans the phase)."""
    return self._cached(('optimizers', phase.name), functools.partial(
        optimizers_lib.make_optimizers, self.settings.optimizer, phase.num_steps))

  def train_step(self, phase, pairing=True):
    """The pure step of `phase`: (state, batch) -> (state, metrics), for jit or pmap;
    pairing: with the pairing diagnostic (step.make_train_step)."""
    settings = self.settings
    return self._cached(('train_step', phase.name, pairing), functools.partial(
        step_lib.make_train_step, self.networks, self.optimizers(phase), phase.objective,
        latent_dim=self.latent_dim, loss_form=settings.loss_form,
        axis_name=self.axis_name, skip_nonfinite=settings.nonfinite == 'skip',
        average_decay=settings.average_decay, remat=settings.model.remat,
        prior=self.prior, discriminator_batches=settings.model.discriminator_batches,
        regularisers=settings.regularisers, pairing=pairing))

  def pmapped_train_step(self, phase, pairing=True):
    """The step of `phase` pmapped over the local devices, as the trainer runs it."""
    return self._cached(('pmapped_train_step', phase.name, pairing),
                        lambda: devices.pmap_step(self.train_step(phase, pairing)))

  def encoder_trained_by(self, step):
    """Whether the encoder has been trained by the time the state reaches `step`.

    A two-phase method's encoder is untouched through its GAN phase: its
    encoder metrics would describe the initial weights.
    """
    return any('encoder' in phase.trains and phase.start < step for phase in self.phases)

  # ---- Inference (trained_model.TrainedModel) -------------------------------------

  def jitted_encoder(self):
    """jit of (variables, x, noise, *y) -> z, in inference mode."""
    encoder = self.networks.encoder
    return self._cached('encode', lambda: jax.jit(
        lambda variables, x, noise, *y: encoder.apply(variables, x, noise, *y, train=False)))

  def jitted_generator(self):
    """jit of (variables, z, *y) -> x, in inference mode."""
    generator = self.networks.generator
    return self._cached('decode', lambda: jax.jit(
        lambda variables, z, *y: generator.apply(variables, z, *y, train=False)))

  def jitted_posterior(self):
    """jit of (variables, x, *y) -> [mu, log sigma] of a 'gaussian' encoder's q(z|x), in
    inference mode."""
    encoder = self.networks.encoder
    def posterior(variables, x, *y):
      noise = jnp.zeros(x.shape[:1] + (self.latent_dim,), jnp.float32)
      _, sown = encoder.apply(variables, x, noise, *y, train=False, mutable=['intermediates'])
      return common.sown(sown['intermediates'], common.MU_LOG_SIGMA)[0]
    return self._cached('posterior', lambda: jax.jit(posterior))

  def jitted_real_logit(self):
    """jit of (variables, x, z, *y) -> D's real/fake logit of the pairs, in inference mode
    (methods.pairing_logit: a K+1-class D's logsumexp, the joint score s_xz of a D with
    unary scores)."""
    discriminator = self.networks.discriminator
    reduce = methods.pairing_logit(self.settings.method)
    return self._cached('real_logit', lambda: jax.jit(
        lambda variables, x, z, *y: reduce(discriminator.apply(variables, x, z, *y,
                                                               train=False))))

  def jitted_class_logits(self, class_logits_fn):
    """jit of class_logits_fn(encoder, discriminator, kind, encoder_variables,
    discriminator_variables, x): D's class logits of (x, the mean of q(z|x))."""
    networks = self.networks
    return self._cached('class_logits', lambda: jax.jit(functools.partial(
        class_logits_fn, networks.encoder, networks.discriminator, self.settings.model.encoder)))

  def jitted_batch_statistics(self, name):
    """jit of standing_statistics.batch_statistics for network `name`, built without a
    device axis (it runs on one device, outside the trainer's pmap)."""
    def make():
      local = registry.build_networks(
          self.settings.model, data_shape=self.data_shape, axis_name=None,
          discriminator_outputs=self.num_classes or 1)
      return jax.jit(standing_statistics.batch_statistics(getattr(local, name)))
    return self._cached(('batch_statistics', name), make)

  def jitted_features(self, hidden_layers, features_fn):
    """jit of features_fn(encoder, kind, hidden_layers, variables, x, noise, *y)."""
    return self._cached(('features', hidden_layers), lambda: jax.jit(functools.partial(
        features_fn, self.networks.encoder, self.settings.model.encoder, hidden_layers)))
