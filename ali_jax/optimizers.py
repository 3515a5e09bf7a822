"""One Adam per network (the paper: Adam(1e-4, beta1=0.5, beta2=0.999))."""
from typing import NamedTuple

import optax

LEARNING_RATE_SCHEDULES = ('constant', 'cosine')


class Optimizers(NamedTuple):
  encoder: optax.GradientTransformation
  generator: optax.GradientTransformation
  discriminator: optax.GradientTransformation


def learning_rate_schedule(optimizer_config, num_steps, scale=1.0):
  """'constant' (the paper) or 'cosine': decay to 0 after `num_steps`; times `scale`."""
  peak = optimizer_config.learning_rate * scale
  if optimizer_config.schedule == 'constant':
    return peak
  if optimizer_config.schedule == 'cosine':
    return optax.cosine_decay_schedule(peak, num_steps)
  raise ValueError(f'config.optimizer.schedule={optimizer_config.schedule!r}; expected '
                   f'one of {LEARNING_RATE_SCHEDULES}.')


def make_optimizers(optimizer_config, num_steps):
  """The three optimizers of a phase of `num_steps` updates.

  The discriminator's learning rate is optimizer.learning_rate times
  optimizer.discriminator_learning_rate_scale (1 in the paper). A decaying schedule spans the phase: the networks
  that a two-phase method trains in its inference phase start it with
  optimizer states that never took a step (the encoder; post-hoc's new D), so
  their schedule starts afresh there.
  """
  def adam(scale=1.0):
    return optax.adam(learning_rate_schedule(optimizer_config, num_steps, scale),
                      b1=optimizer_config.b1, b2=optimizer_config.b2)
  return Optimizers(encoder=adam(), generator=adam(),
                    discriminator=adam(optimizer_config.discriminator_learning_rate_scale))
