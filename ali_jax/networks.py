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
from typing import NamedTuple, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ali_jax import architectures
from ali_jax import bigbigan_architectures
from ali_jax import conv_layers
from ali_jax import dropout
from ali_jax import priors
from ali_jax.settings import choices

# How a gaussian encoder's last layer [mu, a] gives its sigma (model.encoder_sigma):
# rule -> (sigma(a), log sigma(a)). 'exp' is ALI's, unbounded; 'softplus' is
# BigBiGAN's; 'sigmoid' bounds sigma by 1, the N(0, I) prior's std, which no
# posterior needs to exceed: the prior's variance is E[sigma^2] + Var[mu] of the
# posteriors it must match. (With exp, ALI's sigma grew without bound in BiGAN's
# MLPs and D sat at chance: docs/representations.md.)
SIGMAS = {
    choices.EXP_SIGMA: (jnp.exp, lambda a: a),
    choices.SOFTPLUS_SIGMA: (jax.nn.softplus, lambda a: jnp.log(jax.nn.softplus(a))),
    choices.SIGMOID_SIGMA: (jax.nn.sigmoid, jax.nn.log_sigmoid),
}

BATCH_NORM_MOMENTUM = 0.95

OUTPUT_BIAS = 'output_bias'  # the image generator's per-pixel pre-sigmoid bias

# Values that the encoders record ("sow") when called with
# mutable=['intermediates']: the last layer's [mu, log_sigma] (gaussian
# encoders; the VAE's KL needs them) and each hidden layer's activations (the
# semi-supervised features). Without that argument sowing costs nothing.
MU_LOG_SIGMA = 'mu_log_sigma'
HIDDEN = 'hidden'
# A deterministic or noise-input encoder's output before priors.squash (its
# logits under the uniform prior; the latent regressor's loss reads them).
PRE_SQUASH = 'pre_squash'

# model.dtype -> the dtype that layers compute in. Parameters, batch norm
# statistics and every network output (z, x, D's logits) stay float32, so the
# losses, the optimizer and the checkpoints do not depend on it. bfloat16 is
# for TPUs and GPUs; XLA:CPU emulates it (slower than float32 there).
COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def sown(intermediates, name):
  """The values that a network sowed as `name`, in the order it sowed them."""
  if name in intermediates:
    return intermediates[name]
  for value in intermediates.values():
    if hasattr(value, 'items'):
      try:
        return sown(value, name)
      except KeyError:
        pass
  raise KeyError(f'Nothing was sown as {name!r}; call the network with '
                 'mutable=["intermediates"].')


def gaussian_sample(module, last_layer, noise, sigma_rule):
  """z = mu + sigma * noise from a gaussian encoder's last layer [mu, a], sigma
  from a by SIGMAS[sigma_rule]; [mu, log sigma] is sown as MU_LOG_SIGMA."""
  mu, a = jnp.split(last_layer, 2, axis=-1)
  sigma, log_sigma = SIGMAS[sigma_rule]
  module.sow('intermediates', MU_LOG_SIGMA, jnp.concatenate([mu, log_sigma(a)], -1))
  return mu + sigma(a) * noise


def squashed(module, output, prior):
  """A non-Gaussian encoder's z: `output` mapped into the prior's support, the
  output itself sown as PRE_SQUASH."""
  module.sow('intermediates', PRE_SQUASH, output)
  return priors.squash(output, prior)


def maxout(x, pieces):
  """Max over `pieces` consecutive groups of features: (..., n*pieces) -> (..., n)."""
  return x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces)).max(axis=-1)


class MLPEncoder(nn.Module):
  """Dense -> BN -> ReLU blocks, then a linear layer to z (docs/papers.md section 4)."""
  latent_dim: int
  hidden: Sequence[int]
  kind: str = choices.NOISE_INPUT_ENCODER
  init_std: float = 0.02
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32
  prior: str = choices.GAUSSIAN_PRIOR
  sigma: str = choices.EXP_SIGMA  # a gaussian encoder's SIGMAS rule

  @nn.compact
  def __call__(self, x, noise, y=None, *, train):
    del y  # the mixture has no conditional variant
    init = nn.initializers.normal(self.init_std)
    h = jnp.concatenate([x, noise], -1) if self.kind == choices.NOISE_INPUT_ENCODER else x
    for width in self.hidden:
      h = nn.Dense(width, use_bias=False, kernel_init=init, dtype=self.dtype)(h)
      h = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                       axis_name=self.axis_name, dtype=self.dtype)(h)
      h = nn.relu(h)
      self.sow('intermediates', HIDDEN, h)
    if self.kind == choices.GAUSSIAN_ENCODER:
      last_layer = nn.Dense(2 * self.latent_dim, kernel_init=init,
                            dtype=self.dtype)(h).astype(jnp.float32)
      return gaussian_sample(self, last_layer, noise, self.sigma)
    return squashed(self, nn.Dense(self.latent_dim, kernel_init=init,
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
      h = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
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

  @nn.compact
  def __call__(self, x, z, y=None, *, train):
    del y
    init = nn.initializers.normal(self.init_std)
    h = jnp.concatenate([x, z], -1)
    for width in self.hidden:
      h = dropout.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = maxout(nn.Dense(width * self.pieces, kernel_init=init, dtype=self.dtype)(h),
                 self.pieces)
    h = dropout.Dropout(self.dropout_rate, deterministic=not train)(h)
    return nn.Dense(1, kernel_init=init, dtype=self.dtype)(h)[..., 0].astype(jnp.float32)


# ---- Convolutional networks for images (the specs live in architectures.py) ------

class ConvStack(nn.Module):
  """Layers of an architecture spec, each followed by batch norm (if marked) and
  a LeakyReLU, or by a maxout over `maxout_pieces` groups of channels.

  `input_dropout` (discriminators) drops units of each layer's input; a layer's
  own 'dropN' overrides the rate. The last layer's activation is optional.
  """
  layers: Tuple[architectures.Layer, ...]
  leaky_relu_slope: float
  init_std: float
  activate_last: bool = True
  maxout_pieces: int = 1
  input_dropout: Optional[float] = None
  axis_name: Optional[str] = None
  conv_implementation: str = 'plain'  # a key of conv_layers.IMPLEMENTATIONS
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, *, train):
    init = nn.initializers.normal(self.init_std)
    conv_kind, transposed_kind = conv_layers.IMPLEMENTATIONS[self.conv_implementation]
    transposed_count = 0
    for i, layer in enumerate(self.layers):
      if self.input_dropout is not None:
        rate = self.input_dropout if layer.dropout is None else layer.dropout
        h = dropout.Dropout(rate, deterministic=not train)(h)
      shape = dict(features=layer.features, kernel_size=(layer.kernel, layer.kernel),
                   strides=(layer.stride, layer.stride), use_bias=not layer.batch_norm,
                   kernel_init=init, dtype=self.dtype)
      if layer.transposed:
        # Named as the class was first named, so that earlier checkpoints load.
        h = conv_layers.ConvTranspose(implementation=transposed_kind,
                                      name=f'PaddedConvTranspose_{transposed_count}',
                                      **shape)(h)
        transposed_count += 1
      else:
        h = conv_layers.Conv(implementation=conv_kind, **shape)(h)
      if layer.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                         axis_name=self.axis_name, dtype=self.dtype)(h)
      if i < len(self.layers) - 1 or self.activate_last:
        h = maxout(h, self.maxout_pieces) if self.maxout_pieces > 1 else nn.leaky_relu(
            h, self.leaky_relu_slope)
      self.sow('intermediates', HIDDEN, h)
    return h


def _as_image(vector):
  """(batch, n) -> (batch, 1, 1, n): latents and conditions enter convs as 1x1 images."""
  return vector[:, None, None, :]


class ConvEncoder(nn.Module):
  """ALI's stochastic encoder: the conv stack ends in [mu, a] at 1x1 (sigma from a)."""
  arch: architectures.Architecture
  init_std: float
  kind: str = choices.GAUSSIAN_ENCODER
  condition_dim: int = 0
  condition_embedding: int = 256
  axis_name: Optional[str] = None
  conv_implementation: str = 'plain'
  dtype: jnp.dtype = jnp.float32
  prior: str = choices.GAUSSIAN_PRIOR
  sigma: str = choices.EXP_SIGMA  # a gaussian encoder's SIGMAS rule

  @nn.compact
  def __call__(self, x, noise, y=None, *, train):
    init = nn.initializers.normal(self.init_std)
    h = ConvStack(self.arch.encoder[:-1], self.arch.leaky_relu_slope, self.init_std,
                  axis_name=self.axis_name, conv_implementation=self.conv_implementation,
                  dtype=self.dtype)(x, train=train)
    if self.condition_dim:  # conditional ALI: y joins before the last 1x1 conv
      h = jnp.concatenate([h, _as_image(nn.Dense(self.condition_embedding, kernel_init=init,
                                                 dtype=self.dtype)(y))], -1)
    last = self.arch.encoder[-1]
    features = last.features if self.kind == choices.GAUSSIAN_ENCODER else last.features // 2
    h = nn.Conv(features, (last.kernel, last.kernel), padding='VALID', kernel_init=init,
                dtype=self.dtype)(h)[:, 0, 0, :].astype(jnp.float32)
    if self.kind != choices.GAUSSIAN_ENCODER:
      return squashed(self, h, self.prior)
    return gaussian_sample(self, h, noise, self.sigma)


class ConvGenerator(nn.Module):
  """G(z): the conv stack from a 1x1 latent image, a per-pixel bias and a sigmoid.

  The per-pixel bias (OUTPUT_BIAS) starts at zero; the trainer sets it to the
  log-odds of the data's per-pixel mean, as the paper does.
  """
  arch: architectures.Architecture
  init_std: float
  condition_dim: int = 0
  condition_embedding: int = 256
  axis_name: Optional[str] = None
  conv_implementation: str = 'plain'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, y=None, *, train):
    init = nn.initializers.normal(self.init_std)
    h = _as_image(z)
    if self.condition_dim:  # conditional ALI: y joins z at the input
      h = jnp.concatenate([h, _as_image(nn.Dense(self.condition_embedding, kernel_init=init,
                                                 dtype=self.dtype)(y))], -1)
    h = ConvStack(self.arch.generator[:-1], self.arch.leaky_relu_slope, self.init_std,
                  axis_name=self.axis_name, conv_implementation=self.conv_implementation,
                  dtype=self.dtype)(h, train=train)
    last = self.arch.generator[-1]
    h = nn.Conv(last.features, (last.kernel, last.kernel), padding='VALID', use_bias=False,
                kernel_init=init, dtype=self.dtype)(h).astype(jnp.float32)
    bias = self.param(OUTPUT_BIAS, nn.initializers.zeros, h.shape[1:])
    return nn.sigmoid(h + bias)


class ConvDiscriminator(nn.Module):
  """D(x, z) = D_xz(concat(D_x(x), D_z(z))), z as a 1x1 image.

  One logit per pair, (batch,); with num_outputs=K > 1 (the K+1-class D of
  semi-supervised ALI) D_xz's last layer has K channels and D returns
  (batch, K) class logits.
  """
  arch: architectures.Architecture
  init_std: float
  dropout_rate: float
  num_outputs: int = 1
  condition_dim: int = 0
  condition_embedding: int = 256
  axis_name: Optional[str] = None
  conv_implementation: str = 'plain'
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, z, y=None, *, train):
    a = self.arch
    stack = lambda layers, activate_last=True: ConvStack(
        layers, a.leaky_relu_slope, self.init_std, activate_last=activate_last,
        maxout_pieces=a.maxout_pieces, input_dropout=self.dropout_rate,
        axis_name=self.axis_name, conv_implementation=self.conv_implementation,
        dtype=self.dtype)
    joint = [stack(a.discriminator_x)(x, train=train),
             stack(a.discriminator_z)(_as_image(z), train=train)]
    if self.condition_dim:  # conditional ALI: y joins D_xz's input
      joint.append(_as_image(nn.Dense(self.condition_embedding, dtype=self.dtype,
                                      kernel_init=nn.initializers.normal(self.init_std))(y)))
    layers = a.discriminator_joint[:-1] + (
        a.discriminator_joint[-1]._replace(features=self.num_outputs),)
    logits = stack(layers, activate_last=False)(
        jnp.concatenate(joint, -1), train=train)[:, 0, 0, :].astype(jnp.float32)
    return logits[:, 0] if self.num_outputs == 1 else logits


class Networks(NamedTuple):
  encoder: nn.Module
  generator: nn.Module
  discriminator: nn.Module


def build_networks(model_config, *, data_shape, axis_name=None, discriminator_outputs=1):
  """The three networks that `model_config` describes.

  Args:
    model_config: the config's `model` field.
    data_shape: the shape of one data point ((2,) for the mixture, (H, W, C)
      for images).
    axis_name: the pmap axis over which batch norm statistics are averaged, or
      None outside pmap.
    discriminator_outputs: 1 (a real/fake logit), or the number of classes K
      for a K+1-class image D (its logits, the fake class's fixed at 0).
  """
  m = model_config
  dtype = COMPUTE_DTYPES[m.dtype]
  # pylint: disable-next=import-outside-toplevel  (bigan_networks builds on this module)
  from ali_jax import bigan_networks, bigbigan_networks
  if bigbigan_architectures.is_bigbigan(m.architecture):
    if discriminator_outputs != 1:
      raise ValueError('A BigBiGAN discriminator outputs its three scores only.')
    return bigbigan_networks.build(m, axis_name=axis_name, dtype=dtype)
  if m.architecture == choices.BIGAN_MLP:
    return bigan_networks.build(m, data_shape=data_shape, axis_name=axis_name, dtype=dtype,
                                discriminator_outputs=discriminator_outputs)
  if m.architecture == 'mlp':
    if discriminator_outputs != 1:
      raise ValueError('The mixture MLP discriminator has one output.')
    return Networks(
        encoder=MLPEncoder(latent_dim=m.latent_dim, hidden=tuple(m.encoder_hidden),
                           kind=m.encoder, init_std=m.init_std, axis_name=axis_name,
                           dtype=dtype, prior=m.prior, sigma=m.encoder_sigma),
        generator=MLPGenerator(data_dim=data_shape[-1], hidden=tuple(m.generator_hidden),
                               init_std=m.init_std, axis_name=axis_name, dtype=dtype),
        discriminator=MaxoutDiscriminator(
            hidden=tuple(m.discriminator_hidden), pieces=m.maxout_pieces,
            dropout_rate=m.dropout_rate, init_std=m.init_std, dtype=dtype))
  arch = architectures.ARCHITECTURES[m.architecture]
  condition = dict(condition_dim=m.condition_dim, condition_embedding=m.condition_embedding,
                   axis_name=axis_name, conv_implementation=conv_layers.resolve_implementation(
                       m.conv_implementation), dtype=dtype)
  return Networks(
      encoder=ConvEncoder(arch, m.init_std, kind=m.encoder, prior=m.prior,
                          sigma=m.encoder_sigma, **condition),
      generator=ConvGenerator(arch, m.init_std, **condition),
      discriminator=ConvDiscriminator(arch, m.init_std, m.dropout_rate,
                                      num_outputs=discriminator_outputs, **condition))


def output_bias_from_data(images):
  """The paper's initial per-pixel bias: log-odds of the per-pixel data mean."""
  mean = np.clip(np.mean(images, axis=0), 1e-7, 1 - 1e-7)
  return np.log(mean / (1 - mean)).astype(np.float32)
