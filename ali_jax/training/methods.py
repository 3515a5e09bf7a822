"""The training methods (docs/papers.md sections 4 and 6), each a sequence of phases.

Every method uses the same three networks, trainer and checkpoints. A method
names its phases; a phase says which steps it spans, what each network it
trains minimises (its Objective; networks it does not name are frozen: they
keep their parameters and run in inference mode) and what happens when it
starts. The trainer loops over phases without knowing any method by name.

  ali                     E, G: the non-saturating generator loss; D: its loss.
                          Needs a stochastic encoder ('gaussian' or 'noise').
  bigan                   the same objective with a deterministic encoder.
  gan                     no encoder: D sees (x, 0) pairs, so it is D(x).
  latent_regressor        a GAN, then (the last `inference_steps` steps) E alone
                          minimises ||z - E(G(z))||^2 with G frozen (the ALI paper's
                          mixture baseline: an encoder trained after the GAN).
  bigan_latent_regressor  a GAN and, at every step of its schedule, E minimising
                          ||z - E(G(z))||^2 on that step's G(z), all three updated
                          together (BiGAN's released code, --encode_weight 1).
  joint_latent_regressor  a GAN whose G also minimises regression_weight *
                          ||z - E(G(z))||^2, E minimising that loss throughout.
  post_hoc                a GAN, then E and a fresh joint D are trained with the
                          ALI objective, G frozen (the last `inference_steps`).
  alice                   ALI plus cycle_weight * (|x - G(E(x))| + |z - E(G(z))|)
                          for E and G (Li et al. 2017's explicit cycle loss).
  vae                     (mixture only) E, G maximise the ELBO with a Gaussian
                          p(x|z) of std vae_observation_std; D is unused.
  autoencoder             E, G minimise the reconstruction error of x, |x - G(E(x))|
                          in the `reconstruction` norm ('l2' squared, or 'l1'); D
                          is unused (the BiGAN paper's autoencoder baselines).
  semi_supervised         (labelled images) ALI with a K+1-class D(x, z): labelled
                          q pairs predict their class, unlabelled ones any of the K,
                          p pairs the fake class (docs/papers.md section 6); E, G: ALI's
                          loss on the implied real/fake logit.
  bigbigan                (BigBiGAN's networks, models/bigbigan_networks.py) D scores each
                          pair three ways, [s_xz, s_x, s_z]; D: the hinge loss, E:
                          the mean encoder-pair score, G: minus the mean generator-pair
                          score (losses.bigbigan_*, as BigBiGAN's TF Hub module).
  supervised              (labelled images) the same E and D as one classifier,
                          argmax D(x, E(x)), trained on the labelled examples
                          alone; G is unused. The baseline of semi_supervised.

The labelled methods' batches carry a labelled batch too (`num_labels`
class-balanced training examples chosen by `labels_seed`; ali_jax/data).

To add a method: write its loss function (losses from `calls`, the networks
of one step, see step.NetworkCalls) and a function RunSettings -> phases, and add
it to PHASES below; config validation, the trainer and the tests' per-method
checks pick it up from there.
"""
import dataclasses
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from ali_jax import losses as losses_lib
from ali_jax.settings import choices


# Phase names.
SINGLE_PHASE = 'single'
GAN_PHASE = 'gan'
INFERENCE_PHASE = 'inference'

# What a phase does when it starts (see phase_starts.py).
FRESH_DISCRIMINATOR = 'fresh_discriminator'  # a newly initialised D and its optimizer
GAN_STATE_FROM_RUN = 'gan_state_from_run'    # the state of a finished gan run, if one is named


class Objective(NamedTuple):
  """losses(calls, x, y, z, noise) -> {name: scalar}, and the loss each trained
  network descends (networks it does not name are frozen). The losses of the
  LABELLED_METHODS also take `labelled` (step.Labelled). real_logit: D's outputs -> the
  score whose input gradient R1 penalises (a K+1 D's logsumexp, BigBiGAN's three scores'
  sum)."""
  losses: Callable[..., Dict[str, jax.Array]]
  minimises: Dict[str, str]
  real_logit: Callable[[jax.Array], jax.Array] = lambda logits: logits


@dataclasses.dataclass(frozen=True)
class Phase:
  """The updates from step `start` to `start + num_steps` of a method."""
  name: str
  start: int
  num_steps: int
  objective: Objective
  on_start: Optional[str] = None  # FRESH_DISCRIMINATOR, GAN_STATE_FROM_RUN or None

  @property
  def end(self):
    return self.start + self.num_steps

  @property
  def trains(self):
    """The networks whose parameters this phase updates."""
    return tuple(self.objective.minimises)


# ---- The methods' losses ----------------------------------------------------------

def as_views(scores):
  """D's outputs as (batch, views): its logit alone (one view), or with unary scores the
  three [s_xz, s_x, s_z]."""
  return scores.reshape(len(scores), -1)


def joint_score(scores):
  """D's outputs -> the score that sees the pair: its logit, or s_xz of its three."""
  return as_views(scores)[:, 0]


def pairing_logit(method):
  """D's outputs -> the logit that the pairing diagnostic compares, for `method`'s D: a
  K+1-class D's logsumexp (the labelled methods), else joint_score (its logit, or the
  joint s_xz of a D with unary scores, BigBiGAN's or model.discriminator_unary_scores: the
  unary ones see x or z alone)."""
  if method in choices.LABELLED_METHODS:
    return losses_lib.real_logit_from_class_logits
  return joint_score


def _adversarial(calls, x, y, z_hat, z):
  """D on the real pairs (x, z_hat) and the generated pairs (G(z), z), in one call or two
  (model.discriminator_batches); returns losses and G(z).

  z_hat=None makes it a GAN: D's latent input is zero for both halves, so the
  joint D is a D of x alone (its z weights never get a gradient) and a GAN
  shares the ALI networks. With z_hat, the metrics include the pairing diagnostic
  (losses.pairing_metrics: does D tell (x, E(x)) from (x, E(x'))?).

  A D with unary scores (model.discriminator_unary_scores) returns (batch, 3) scores
  [s_xz, s_x, s_z]: ALI's losses are summed over D's views (losses.summed_over_views; one
  view: ALI's losses themselves), the confidences and the pairing read s_xz, and each unary
  view's confidences are logged.
  """
  x_tilde = calls.decode(z, y)
  z_real, z_fake = (z_hat, z) if z_hat is not None else (jnp.zeros_like(z),) * 2
  # The decoder pairs are conditioned on the same attributes as the data.
  real, fake = calls.discriminate_batches((x, z_real, y), (x_tilde, z_fake, y))
  real, fake = as_views(real), as_views(fake)
  losses = dict(
      discriminator_loss=losses_lib.summed_over_views(losses_lib.discriminator_loss,
                                                      real, fake),
      generator_loss=losses_lib.summed_over_views(losses_lib.generator_loss, real, fake,
                                                  form=calls.loss_form),
      real_confidence=losses_lib.real_confidence(real[:, 0]),
      fake_confidence=losses_lib.fake_confidence(fake[:, 0]),
      **({} if z_hat is None else calls.pairing(x, z_hat, y, real_logit=joint_score)))
  unary_views = ('x', 'z')[:real.shape[1] - 1]  # which view tells the pairs apart
  for i, view in enumerate(unary_views, 1):
    losses[f'real_confidence_{view}'] = losses_lib.real_confidence(real[:, i])
    losses[f'fake_confidence_{view}'] = losses_lib.fake_confidence(fake[:, i])
  return losses, x_tilde


def _ali_losses(calls, x, y, z, noise):
  z_hat, posterior = calls.encode_with_posterior(x, noise, y)
  losses, _ = _adversarial(calls, x, y, z_hat, z)
  return {**losses, **posterior}


def _gan_losses(calls, x, y, z, noise):
  del noise
  losses, _ = _adversarial(calls, x, y, None, z)
  return losses


def _regression_loss(calls, z, x_tilde, noise, y):
  """How far E(G(z)) is from z, as the prior asks (models/priors.py)."""
  if calls.prior == choices.UNIFORM_PRIOR:
    return losses_lib.uniform_latent_regression_loss(
        z, calls.encode_pre_squash(x_tilde, noise, y))
  return losses_lib.latent_regression_loss(z, calls.encode(x_tilde, noise, y))


def _latent_regression_losses(calls, x, y, z, noise):
  del x
  x_tilde = calls.decode(z, y)  # G frozen: inference mode
  return dict(regression_loss=_regression_loss(calls, z, x_tilde, noise, y))


def _make_joint_latent_regressor_losses(weight):
  def joint_losses(calls, x, y, z, noise):
    losses, x_tilde = _adversarial(calls, x, y, None, z)
    losses['regression_loss'] = _regression_loss(calls, z, x_tilde, noise, y)
    losses['generator_objective'] = losses['generator_loss'] + weight * losses[
        'regression_loss']
    return losses
  return joint_losses


def _make_alice_losses(weight):
  def alice_losses(calls, x, y, z, noise):
    z_hat, posterior = calls.encode_with_posterior(x, noise, y)
    losses, x_tilde = _adversarial(calls, x, y, z_hat, z)
    losses.update(posterior)
    losses['cycle_loss'] = losses_lib.cycle_loss(x, calls.decode(z_hat, y), z,
                                                 calls.encode(x_tilde, noise, y))
    losses['generator_objective'] = losses['generator_loss'] + weight * losses['cycle_loss']
    return losses
  return alice_losses


def _make_vae_losses(observation_std):
  def vae_losses(calls, x, y, z, noise):
    del z
    z_hat, mu, log_sigma = calls.encode_gaussian(x, noise, y)
    x_mean = calls.decode(z_hat, y)
    reconstruction = losses_lib.per_example_sum((x - x_mean) ** 2) / (2 * observation_std ** 2)
    kl = losses_lib.gaussian_kl_to_prior(mu, log_sigma)
    return dict(reconstruction_nll=jnp.mean(reconstruction), kl=jnp.mean(kl),
                negative_elbo=jnp.mean(reconstruction + kl))
  return vae_losses


def _make_autoencoder_losses(norm):
  def autoencoder_losses(calls, x, y, z, noise):
    del z  # the prior plays no part
    x_reconstructed = calls.decode(calls.encode(x, noise, y), y)
    return dict(reconstruction_loss=losses_lib.reconstruction_loss(x, x_reconstructed, norm))
  return autoencoder_losses


def _bigbigan_losses(calls, x, y, z, noise):
  del y  # validation allows no conditions here
  z_hat, posterior = calls.encode_with_posterior(x, noise)
  encoder_scores, generator_scores = calls.discriminate_batches(
      (x, z_hat, None), (calls.decode(z), z, None))
  return dict(**posterior, **calls.pairing(x, z_hat,
                                            real_logit=pairing_logit(choices.BIGBIGAN)),
              discriminator_loss=losses_lib.bigbigan_discriminator_loss(encoder_scores,
                                                                         generator_scores),
              encoder_loss=losses_lib.bigbigan_encoder_loss(encoder_scores),
              generator_loss=losses_lib.bigbigan_generator_loss(generator_scores),
              # The mean of each score (joint, x, z) on each kind of pair: which
              # of D's three views tells the pairs apart.
              **{f'{side}_{name}_score': jnp.mean(side_scores[:, i])
                 for side, side_scores in (('encoder', encoder_scores),
                                           ('generator', generator_scores))
                 for i, name in enumerate(('joint', 'x', 'z'))})


def _make_semi_supervised_losses(unsupervised_weight):
  def semi_supervised_losses(calls, x, y, z, noise, labelled):
    del y  # validation allows no conditions here
    n = x.shape[0]
    # One call of E over everything it sees, so batch norm normalises one joint
    # batch; D as model.discriminator_batches says (one call, or one per kind).
    both, posterior = calls.encode_with_posterior(jnp.concatenate([x, labelled.x]),
                                                  jnp.concatenate([noise, labelled.noise]))
    z_hat, z_labelled = jnp.split(both, [n])
    x_tilde = calls.decode(z)
    unlabelled, fake, labelled_logits = calls.discriminate_batches(
        (x, z_hat, None), (x_tilde, z, None), (labelled.x, z_labelled, None))
    real_logit = losses_lib.real_logit_from_class_logits
    return dict(
        discriminator_loss=losses_lib.semi_supervised_discriminator_loss(
            labelled_logits, labelled.labels, unlabelled, fake,
            unsupervised_weight=unsupervised_weight),
        generator_loss=losses_lib.generator_loss(real_logit(unlabelled), real_logit(fake),
                                                 form=calls.loss_form),
        classification_loss=losses_lib.classification_loss(labelled_logits, labelled.labels),
        labelled_accuracy=losses_lib.classification_accuracy(labelled_logits,
                                                             labelled.labels),
        real_confidence=losses_lib.real_confidence(real_logit(unlabelled)),
        fake_confidence=losses_lib.fake_confidence(real_logit(fake)),
        **posterior, **calls.pairing(x, z_hat,
                                     real_logit=pairing_logit(choices.SEMI_SUPERVISED)))
  return semi_supervised_losses


def _supervised_losses(calls, x, y, z, noise, labelled):
  del x, y, z, noise  # the unlabelled data and the prior play no part
  logits = calls.discriminate(labelled.x, calls.encode(labelled.x, labelled.noise))
  return dict(classification_loss=losses_lib.classification_loss(logits, labelled.labels),
              labelled_accuracy=losses_lib.classification_accuracy(logits, labelled.labels))


# ---- The methods' phases ----------------------------------------------------------

ADVERSARIAL = dict(encoder='generator_loss', generator='generator_loss',
                   discriminator='discriminator_loss')
GAN_OBJECTIVE = Objective(_gan_losses, dict(generator='generator_loss',
                                            discriminator='discriminator_loss'))


def _one_phase(objective):
  return lambda settings: (Phase(SINGLE_PHASE, 0, settings.num_train_steps, objective),)


def _gan_then(inference_objective, on_inference_start=None):
  """A GAN phase, then `inference_objective` for the last method_options.inference_steps."""
  def phases(settings):
    inference_steps = settings.method_options['inference_steps']
    gan_steps = settings.num_train_steps - inference_steps
    return (Phase(GAN_PHASE, 0, gan_steps, GAN_OBJECTIVE, on_start=GAN_STATE_FROM_RUN),
            Phase(INFERENCE_PHASE, gan_steps, inference_steps, inference_objective,
                  on_start=on_inference_start))
  return phases


def _weighted(make_losses, option, minimises, **objective):
  return lambda settings: _one_phase(Objective(make_losses(settings.method_options[option]),
                                               minimises, **objective))(settings)


# method -> RunSettings -> its phases, in order, covering steps 0..num_train_steps.
PHASES = {
    choices.ALI: _one_phase(Objective(_ali_losses, ADVERSARIAL)),
    choices.BIGAN: _one_phase(Objective(_ali_losses, ADVERSARIAL)),
    choices.GAN: _one_phase(GAN_OBJECTIVE),
    choices.LATENT_REGRESSOR: _gan_then(Objective(_latent_regression_losses,
                                          dict(encoder='regression_loss'))),
    # The joint regressor's losses with G's regression weight 0: G is a plain GAN's.
    choices.BIGAN_LATENT_REGRESSOR: lambda settings: _one_phase(Objective(
        _make_joint_latent_regressor_losses(0.0),
        dict(encoder='regression_loss', generator='generator_loss',
             discriminator='discriminator_loss')))(settings),
    choices.JOINT_LATENT_REGRESSOR: _weighted(
        _make_joint_latent_regressor_losses, 'regression_weight',
        dict(encoder='regression_loss', generator='generator_objective',
             discriminator='discriminator_loss')),
    choices.POST_HOC: _gan_then(Objective(_ali_losses, dict(encoder='generator_loss',
                                                    discriminator='discriminator_loss')),
                        on_inference_start=FRESH_DISCRIMINATOR),
    choices.ALICE: _weighted(_make_alice_losses, 'cycle_weight',
                     dict(encoder='generator_objective', generator='generator_objective',
                          discriminator='discriminator_loss')),
    choices.VAE: _weighted(_make_vae_losses, 'vae_observation_std',
                   dict(encoder='negative_elbo', generator='negative_elbo')),
    choices.AUTOENCODER: _weighted(_make_autoencoder_losses, 'reconstruction',
                           dict(encoder='reconstruction_loss', generator='reconstruction_loss')),
    choices.SEMI_SUPERVISED: _weighted(_make_semi_supervised_losses, 'unsupervised_weight',
                               ADVERSARIAL,
                               real_logit=losses_lib.real_logit_from_class_logits),
    choices.BIGBIGAN: _one_phase(Objective(_bigbigan_losses,
                                   dict(encoder='encoder_loss', generator='generator_loss',
                                        discriminator='discriminator_loss'),
                                   real_logit=lambda scores: jnp.sum(scores, axis=-1))),
    choices.SUPERVISED: _one_phase(Objective(_supervised_losses,
                                     dict(encoder='classification_loss',
                                          discriminator='classification_loss'))),
}
# Methods with networks of their own (models/bigbigan_networks.py), and the only ones
# that those networks serve: their D returns three scores, not a logit.
OWN_NETWORK_METHODS = (choices.BIGBIGAN,)
# The methods that the 2-D mixture (unlabelled, MLPs) can train.
MIXTURE_METHODS = tuple(m for m in choices.METHODS
                        if m not in choices.LABELLED_METHODS + OWN_NETWORK_METHODS)


def phases(settings) -> Tuple[Phase, ...]:
  """The phases of the method that `settings` (a settings/run_settings.RunSettings) name."""
  if settings.method not in PHASES:
    raise ValueError(f'config.method={settings.method!r}; expected one of {choices.METHODS}.')
  return PHASES[settings.method](settings)


def trains_encoder(settings):
  """Whether any phase of the method of `settings` (a RunSettings) trains the encoder (a
  GAN's never does)."""
  return any('encoder' in phase.trains for phase in phases(settings))
