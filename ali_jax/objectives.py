"""What each training method optimises (PAPER.md sections 4 and 6).

Every method uses the same three networks, trainer and checkpoints; they differ
in which networks are trained and what each one minimises:

  ali                     E, G: the non-saturating generator loss; D: its loss.
                          Needs a stochastic encoder ('gaussian' or 'noise').
  bigan                   the same objective with a deterministic encoder.
  gan                     no encoder: D sees (x, 0) pairs, so it is D(x).
  latent_regressor        a GAN, then (the last `inference_steps` steps) E alone
                          minimises ||z - E(G(z))||^2 with G frozen.
  joint_latent_regressor  a GAN whose G also minimises regression_weight *
                          ||z - E(G(z))||^2, E minimising that loss throughout.
  post_hoc                a GAN, then E and a fresh joint D are trained with the
                          ALI objective, G frozen (the last `inference_steps`).
  alice                   ALI plus cycle_weight * (|x - G(E(x))| + |z - E(G(z))|)
                          for E and G (Li et al. 2017's explicit cycle loss).
  vae                     (mixture only) E, G maximise the ELBO with a Gaussian
                          p(x|z) of std vae_observation_std; D is unused.

An objective is `losses(calls, x, y, z, noise) -> {name: scalar}` plus
`minimises`, the loss each trained network descends; networks it does not name
are frozen: they keep their parameters and run in inference mode.
"""
from typing import Callable, Dict, NamedTuple

import jax
import jax.numpy as jnp

from ali_jax import losses as losses_lib

ALI = 'ali'
BIGAN = 'bigan'
GAN = 'gan'
LATENT_REGRESSOR = 'latent_regressor'
JOINT_LATENT_REGRESSOR = 'joint_latent_regressor'
POST_HOC = 'post_hoc'
ALICE = 'alice'
VAE = 'vae'
METHODS = (ALI, BIGAN, GAN, LATENT_REGRESSOR, JOINT_LATENT_REGRESSOR, POST_HOC, ALICE, VAE)
# A GAN first, then inference learnt against the frozen generator.
TWO_PHASE_METHODS = (LATENT_REGRESSOR, POST_HOC)
# Methods whose encoder is never trained (nothing to reconstruct with).
WITHOUT_ENCODER = (GAN,)

GAN_PHASE = 'gan'
INFERENCE_PHASE = 'inference'
SINGLE_PHASE = 'single'


def default_options():
  """config.method_options: the settings that only some methods read."""
  return dict(
      inference_steps=0,         # latent_regressor, post_hoc: steps of the second phase
      # latent_regressor, post_hoc: the workdir of a finished `gan` run with the
      # same settings and num_train_steps = the GAN phase's steps; its final
      # state becomes this run's GAN phase ('' trains the GAN phase here).
      gan_workdir='',
      regression_weight=0.25,    # joint_latent_regressor (PAPER.md: 1.0 degenerates)
      cycle_weight=1.0,          # alice
      vae_observation_std=0.1,   # vae: std of the Gaussian p(x|z)
  )


def method_of(config):
  """config.method; runs made before methods existed were ALI or BiGAN runs."""
  if 'method' in config:
    return config.method
  return BIGAN if config.model.encoder == 'deterministic' else ALI


def phase(config, step):
  """The phase that the update from `step` to `step + 1` belongs to."""
  start = inference_phase_start(config)
  if start is None:
    return SINGLE_PHASE
  return GAN_PHASE if step < start else INFERENCE_PHASE


def phase_steps(config, phase_name):
  """How many updates `phase_name` has."""
  if phase_name == SINGLE_PHASE:
    return config.num_train_steps
  inference_steps = config.method_options.inference_steps
  return inference_steps if phase_name == INFERENCE_PHASE else (
      config.num_train_steps - inference_steps)


def inference_phase_start(config):
  """The step at which a two-phase method starts learning inference, else None."""
  if method_of(config) not in TWO_PHASE_METHODS:
    return None
  return config.num_train_steps - config.method_options.inference_steps


class Objective(NamedTuple):
  losses: Callable[..., Dict[str, jax.Array]]
  minimises: Dict[str, str]  # trained network -> the name of the loss it minimises


# ---- Loss terms -------------------------------------------------------------------

def _adversarial(calls, x, y, z_hat, z):
  """D on the joint batch [(x, z_hat) ; (G(z), z)] in one call; returns losses and G(z).

  z_hat=None makes it a GAN: D's latent input is zero for both halves, so the
  joint D is a D of x alone (its z weights never get a gradient) and a GAN
  shares the ALI networks.
  """
  x_tilde = calls.decode(z, y)
  z_real, z_fake = (z_hat, z) if z_hat is not None else (jnp.zeros_like(z),) * 2
  n = x.shape[0]
  # The decoder pairs are conditioned on the same attributes as the data.
  joint_y = None if y is None else jnp.concatenate([y, y])
  logits = calls.discriminate(jnp.concatenate([x, x_tilde]),
                              jnp.concatenate([z_real, z_fake]), joint_y)
  real, fake = logits[:n], logits[n:]
  return dict(discriminator_loss=losses_lib.discriminator_loss(real, fake),
              generator_loss=losses_lib.generator_loss(real, fake, form=calls.loss_form),
              real_accuracy=losses_lib.real_accuracy(real),
              fake_accuracy=losses_lib.fake_accuracy(fake)), x_tilde


def _per_example_sum(a):
  return a.reshape(a.shape[0], -1).sum(-1)


def latent_regression_loss(z, z_reconstructed):
  """mean over the batch of ||z - E(G(z))||^2."""
  return jnp.mean(_per_example_sum((z - z_reconstructed) ** 2))


def cycle_loss(x, x_reconstructed, z, z_reconstructed):
  """ALICE's explicit cycle loss: mean |x - G(E(x))| + mean |z - E(G(z))| (per element)."""
  return jnp.mean(jnp.abs(x - x_reconstructed)) + jnp.mean(jnp.abs(z - z_reconstructed))


def gaussian_kl_to_prior(mu, log_sigma):
  """KL(N(mu, sigma^2) || N(0, I)) per example."""
  return 0.5 * _per_example_sum(mu ** 2 + jnp.exp(2 * log_sigma) - 1 - 2 * log_sigma)


# ---- The methods' losses ----------------------------------------------------------

def _ali_losses(calls, x, y, z, noise):
  losses, _ = _adversarial(calls, x, y, calls.encode(x, noise, y), z)
  return losses


def _gan_losses(calls, x, y, z, noise):
  del noise
  losses, _ = _adversarial(calls, x, y, None, z)
  return losses


def _latent_regression_losses(calls, x, y, z, noise):
  del x
  x_tilde = calls.decode(z, y)  # G frozen: inference mode
  return dict(regression_loss=latent_regression_loss(z, calls.encode(x_tilde, noise, y)))


def _make_joint_latent_regressor_losses(weight):
  def joint_losses(calls, x, y, z, noise):
    losses, x_tilde = _adversarial(calls, x, y, None, z)
    losses['regression_loss'] = latent_regression_loss(z, calls.encode(x_tilde, noise, y))
    losses['generator_objective'] = losses['generator_loss'] + weight * losses[
        'regression_loss']
    return losses
  return joint_losses


def _make_alice_losses(weight):
  def alice_losses(calls, x, y, z, noise):
    z_hat = calls.encode(x, noise, y)
    losses, x_tilde = _adversarial(calls, x, y, z_hat, z)
    losses['cycle_loss'] = cycle_loss(x, calls.decode(z_hat, y), z,
                                      calls.encode(x_tilde, noise, y))
    losses['generator_objective'] = losses['generator_loss'] + weight * losses['cycle_loss']
    return losses
  return alice_losses


def _make_vae_losses(observation_std):
  def vae_losses(calls, x, y, z, noise):
    del z
    z_hat, mu, log_sigma = calls.encode_gaussian(x, noise, y)
    x_mean = calls.decode(z_hat, y)
    reconstruction = _per_example_sum((x - x_mean) ** 2) / (2 * observation_std ** 2)
    kl = gaussian_kl_to_prior(mu, log_sigma)
    return dict(reconstruction_nll=jnp.mean(reconstruction), kl=jnp.mean(kl),
                negative_elbo=jnp.mean(reconstruction + kl))
  return vae_losses


def objective(config, phase_name):
  """The Objective of `config`'s method in `phase_name` (see `phase`)."""
  method = method_of(config)
  options = config.get('method_options', default_options())
  adversarial = dict(encoder='generator_loss', generator='generator_loss',
                     discriminator='discriminator_loss')
  if method in (ALI, BIGAN):
    return Objective(_ali_losses, adversarial)
  gan = Objective(_gan_losses, dict(generator='generator_loss',
                                    discriminator='discriminator_loss'))
  if method == GAN or (method in TWO_PHASE_METHODS and phase_name == GAN_PHASE):
    return gan
  if method == LATENT_REGRESSOR:
    return Objective(_latent_regression_losses, dict(encoder='regression_loss'))
  if method == POST_HOC:
    return Objective(_ali_losses, dict(encoder='generator_loss',
                                       discriminator='discriminator_loss'))
  if method == JOINT_LATENT_REGRESSOR:
    return Objective(_make_joint_latent_regressor_losses(options['regression_weight']),
                     dict(encoder='regression_loss', generator='generator_objective',
                          discriminator='discriminator_loss'))
  if method == ALICE:
    return Objective(_make_alice_losses(options['cycle_weight']),
                     dict(encoder='generator_objective', generator='generator_objective',
                          discriminator='discriminator_loss'))
  if method == VAE:
    return Objective(_make_vae_losses(options['vae_observation_std']),
                     dict(encoder='negative_elbo', generator='negative_elbo'))
  raise ValueError(f'config.method={method!r}; expected one of {METHODS}.')
