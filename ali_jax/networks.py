"""Flax (linen) networks: encoder E(x) -> z, generator G(z) -> x, joint D(x, z).

Every network is called as
  encoder(x, noise, train=...) -> z         noise: (batch, latent_dim)
  generator(z, train=...) -> x
  discriminator(x, z, train=...) -> logits  (batch,)
so the train step, the trainer and the inference API never look inside them.

Batch norm takes an ``axis_name``: under pmap its statistics are computed over
the global batch (all devices), which makes a multi-device step the same maths
as the one-device step on the same global batch. Population statistics follow
the paper's p <- 0.95 p + 0.05 batch (momentum 0.95).
"""
from typing import NamedTuple, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

# Encoder kinds. 'gaussian' is ALI's reparameterised q(z|x) = N(mu, sigma^2);
# 'noise' makes E stochastic by concatenating the noise to x (the paper's
# mixture encoder); 'deterministic' is BiGAN's z = E(x).
GAUSSIAN = 'gaussian'
NOISE_INPUT = 'noise'
DETERMINISTIC = 'deterministic'
ENCODER_KINDS = (GAUSSIAN, NOISE_INPUT, DETERMINISTIC)

BATCH_NORM_MOMENTUM = 0.95


def gaussian_sample(mu_and_log_sigma, noise):
  """z = mu + exp(log_sigma) * noise from the last layer's [mu, log_sigma]."""
  mu, log_sigma = jnp.split(mu_and_log_sigma, 2, axis=-1)
  return mu + jnp.exp(log_sigma) * noise


def maxout(x, pieces):
  """Max over `pieces` consecutive groups of features: (..., n*pieces) -> (..., n)."""
  return x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces)).max(axis=-1)


class MLPEncoder(nn.Module):
  """Dense -> BN -> ReLU blocks, then a linear layer to z (PAPER.md section 4)."""
  latent_dim: int
  hidden: Sequence[int]
  kind: str = NOISE_INPUT
  init_std: float = 0.02
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x, noise, *, train):
    init = nn.initializers.normal(self.init_std)
    h = jnp.concatenate([x, noise], -1) if self.kind == NOISE_INPUT else x
    for width in self.hidden:
      h = nn.Dense(width, use_bias=False, kernel_init=init)(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                       axis_name=self.axis_name)(h)
      h = nn.relu(h)
    if self.kind == GAUSSIAN:
      return gaussian_sample(nn.Dense(2 * self.latent_dim, kernel_init=init)(h), noise)
    return nn.Dense(self.latent_dim, kernel_init=init)(h)


class MLPGenerator(nn.Module):
  """Dense -> BN -> ReLU blocks, then a linear layer to x."""
  data_dim: int
  hidden: Sequence[int]
  init_std: float = 0.02
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, z, *, train):
    init = nn.initializers.normal(self.init_std)
    h = z
    for width in self.hidden:
      h = nn.Dense(width, use_bias=False, kernel_init=init)(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                       axis_name=self.axis_name)(h)
      h = nn.relu(h)
    return nn.Dense(self.data_dim, kernel_init=init)(h)


class MaxoutDiscriminator(nn.Module):
  """D(x, z) on concat(x, z): maxout layers then one logit.

  Dropout acts on the input of every layer, as in the paper's code.
  """
  hidden: Sequence[int]
  pieces: int = 5
  dropout_rate: float = 0.0
  init_std: float = 0.02

  @nn.compact
  def __call__(self, x, z, *, train):
    init = nn.initializers.normal(self.init_std)
    h = jnp.concatenate([x, z], -1)
    for width in self.hidden:
      h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = maxout(nn.Dense(width * self.pieces, kernel_init=init)(h), self.pieces)
    h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(1, kernel_init=init)(h)[..., 0]


class Networks(NamedTuple):
  encoder: nn.Module
  generator: nn.Module
  discriminator: nn.Module


def build_networks(model_config, *, data_shape, axis_name=None):
  """The three networks that `model_config` describes.

  Args:
    model_config: the config's `model` field.
    data_shape: the shape of one data point ((2,) for the mixture).
    axis_name: the pmap axis over which batch norm statistics are averaged, or
      None outside pmap.
  """
  m = model_config
  if m.architecture != 'mlp':
    raise ValueError(f'config.model.architecture={m.architecture!r} is not '
                     "known; expected 'mlp'.")
  return Networks(
      encoder=MLPEncoder(latent_dim=m.latent_dim, hidden=tuple(m.encoder_hidden),
                         kind=m.encoder, init_std=m.init_std, axis_name=axis_name),
      generator=MLPGenerator(data_dim=data_shape[-1], hidden=tuple(m.generator_hidden),
                             init_std=m.init_std, axis_name=axis_name),
      discriminator=MaxoutDiscriminator(
          hidden=tuple(m.discriminator_hidden), pieces=m.maxout_pieces,
          dropout_rate=m.dropout_rate, init_std=m.init_std))
