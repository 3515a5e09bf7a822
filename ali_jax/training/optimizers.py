"""One Adam per network (the paper: Adam(1e-4, beta1=0.5, beta2=0.999)).

Learning rate schedules (optimizer.schedule), over the `num_steps` of a phase:
  'constant'     the peak rate throughout (the ALI paper).
  'cosine'       cosine decay from the peak to 0.
  'exponential'  the peak for the first `decay_start_fraction` of the steps,
                 then exponential decay to `final_learning_rate_scale` x the
                 peak at the last step (BiGAN's released MNIST setup: half the
                 epochs constant, then decay to 0.01x).
optimizer.weight_decay adds decay x w to the gradient of every weight matrix
and convolution kernel (L2 regularisation of (decay / 2) ||w||^2 before Adam,
BiGAN's 2.5e-5; biases, batch norm and the output bias are left alone).
"""
from typing import NamedTuple

import jax
import optax

from ali_jax.models import common
from ali_jax.settings import choices


class Optimizers(NamedTuple):
  encoder: optax.GradientTransformation
  generator: optax.GradientTransformation
  discriminator: optax.GradientTransformation


def learning_rate_schedule(settings, num_steps, scale=1.0):
  """The schedule settings.schedule names (module docstring), times `scale`.
  settings: a settings/run_settings.OptimizerSettings."""
  peak = settings.learning_rate * scale
  if settings.schedule == 'constant':
    return peak
  if settings.schedule == 'cosine':
    return optax.cosine_decay_schedule(peak, num_steps)
  if settings.schedule == 'exponential':
    constant_steps = int(round(num_steps * settings.decay_start_fraction))
    decay_steps = max(num_steps - constant_steps, 1)
    return optax.join_schedules(
        [optax.constant_schedule(peak),
         optax.exponential_decay(peak, decay_steps, settings.final_learning_rate_scale)],
        [constant_steps])
  raise ValueError(f'config.optimizer.schedule={settings.schedule!r}; expected '
                   f'one of {choices.LEARNING_RATE_SCHEDULES}.')


def _is_weight(params):
  """True for weight matrices and kernels: 2 or more dimensions, and not the
  image generator's per-pixel output bias."""
  def is_weight(path, p):
    return p.ndim >= 2 and not any(getattr(k, 'key', None) == common.OUTPUT_BIAS
                                  for k in path)
  return jax.tree_util.tree_map_with_path(is_weight, params)


def make_optimizers(settings, num_steps):
  """The three optimizers of a phase of `num_steps` updates, as `settings` (a
  settings/run_settings.OptimizerSettings) say.

  The discriminator's learning rate is optimizer.learning_rate times
  optimizer.discriminator_learning_rate_scale (1 in the paper). A decaying schedule spans
  the phase: the networks
  that a two-phase method trains in its inference phase start it with
  optimizer states that never took a step (the encoder; post-hoc's new D), so
  their schedule starts afresh there. Without weight decay the optimizer is
  Adam alone (the optimizer state of earlier runs' checkpoints).
  """
  decay = settings.weight_decay

  def adam(scale=1.0):
    optimizer = optax.adam(learning_rate_schedule(settings, num_steps, scale),
                           b1=settings.b1, b2=settings.b2)
    if not decay:
      return optimizer
    return optax.chain(optax.add_decayed_weights(decay, mask=_is_weight), optimizer)
  return Optimizers(encoder=adam(), generator=adam(),
                    discriminator=adam(settings.discriminator_learning_rate_scale))
