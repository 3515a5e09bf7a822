"""The ALI paper's 2-D mixture networks: MLP encoder and generator, maxout D.

Section 4 of docs/papers.md (the paper's appendix lists the sizes; configs/mixture.py
holds them).
"""
from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from ali_jax.models import common
from ali_jax.models import dropout
from ali_jax.settings import choices


class MLPEncoder(nn.Module):
  """Dense -> BN -> ReLU blocks, then a linear layer to z (docs/papers.md section 4)."""
  latent_dim: int
  hidden: Sequence[int]
  kind: str = choices.NOISE_INPUT_ENCODER
  init_std: float = 0.02
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32
  prior: str = choices.GAUSSIAN_PRIOR
  sigma: str = choices.EXP_SIGMA  # a gaussian encoder's common.SIGMAS rule

  @nn.compact
  def __call__(self, x, noise, y=None, *, train):
    del y  # the mixture has no conditional variant
    init = nn.initializers.normal(self.init_std)
    h = jnp.concatenate([x, noise], -1) if self.kind == choices.NOISE_INPUT_ENCODER else x
    for width in self.hidden:
      h = nn.Dense(width, use_bias=False, kernel_init=init, dtype=self.dtype)(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=common.BATCH_NORM_MOMENTUM,
                       axis_name=self.axis_name, dtype=self.dtype)(h)
      h = nn.relu(h)
      self.sow('intermediates', common.HIDDEN, h)
    if self.kind == choices.GAUSSIAN_ENCODER:
      last_layer = nn.Dense(2 * self.latent_dim, kernel_init=init,
                            dtype=self.dtype)(h).astype(jnp.float32)
      return common.gaussian_sample(self, last_layer, noise, self.sigma)
    return common.squashed(self, nn.Dense(self.latent_dim, kernel_init=init,
                                   dtype=self.dtype)(h).astype(jnp.float32), self.prior)


class MLPGenerator(nn.Module):
  """Dense -> BN -> ReLU blocks, then a linear layer to x."""
  data_dim: int
  hidden: Sequence[int]
  init_std: float = 0.02
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, y=None, *, train):
    del y
    init = nn.initializers.normal(self.init_std)
    h = z
    for width in self.hidden:
      h = nn.Dense(width, use_bias=False, kernel_init=init, dtype=self.dtype)(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=common.BATCH_NORM_MOMENTUM,
                       axis_name=self.axis_name, dtype=self.dtype)(h)
      h = nn.relu(h)
    return nn.Dense(self.data_dim, kernel_init=init, dtype=self.dtype)(h).astype(jnp.float32)


class MaxoutDiscriminator(nn.Module):
  """D(x, z) on concat(x, z): maxout layers then one logit.

  Dropout acts on the input of every layer, as in the paper's code.
  """
  hidden: Sequence[int]
  pieces: int = 5
  dropout_rate: float = 0.0
  init_std: float = 0.02
  dtype: jnp.dtype = jnp.float32
  spectral_norm: bool = False  # of every layer's kernel

  @nn.compact
  def __call__(self, x, z, y=None, *, train):
    del y
    init = nn.initializers.normal(self.init_std)
    dense = lambda width, h: common.layer(nn.Dense(width, kernel_init=init, dtype=self.dtype),
                                          h, train, self.spectral_norm)
    h = jnp.concatenate([x, z], -1)
    for width in self.hidden:
      h = dropout.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = common.maxout(dense(width * self.pieces, h), self.pieces)
    h = dropout.Dropout(self.dropout_rate, deterministic=not train)(h)
    return dense(1, h)[..., 0].astype(jnp.float32)


def build(model, *, data_shape, axis_name, dtype, discriminator_outputs):
  """common.Networks of the mixture MLPs that `model` (a ModelSettings) describes, for
  (2,) points."""
  m = model
  if discriminator_outputs != 1:
    raise ValueError('The mixture MLP discriminator has one output.')
  return common.Networks(
      encoder=MLPEncoder(latent_dim=m.latent_dim, hidden=tuple(m.encoder_hidden),
                         kind=m.encoder, init_std=m.init_std, axis_name=axis_name,
                         dtype=dtype, prior=m.prior, sigma=m.encoder_sigma),
      generator=MLPGenerator(data_dim=data_shape[-1], hidden=tuple(m.generator_hidden),
                             init_std=m.init_std, axis_name=axis_name, dtype=dtype),
      discriminator=MaxoutDiscriminator(
          hidden=tuple(m.discriminator_hidden), pieces=m.maxout_pieces,
          dropout_rate=m.dropout_rate, init_std=m.init_std, dtype=dtype,
          spectral_norm=m.discriminator_spectral_norm))
