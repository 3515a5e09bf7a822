"""The ALI paper's convolutional networks, built from the tables of ali_architectures.py.

E and G are conv stacks; D joins D_x(x) and D_z(z) at 1x1 and scores the pair with D_xz
(docs/papers.md section 3). A conditional model (CelebA's attributes) embeds y and feeds
it to every network.
"""
from typing import Optional, Tuple

import flax.linen as nn
import jax.numpy as jnp

from ali_jax.models import ali_architectures as architectures
from ali_jax.models import common
from ali_jax.models import conv_layers
from ali_jax.models import dropout
from ali_jax.settings import choices


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
  spectral_norm: bool = False  # of each convolution's kernel (D's stacks)

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
        h = common.layer(conv_layers.Conv(implementation=conv_kind, **shape), h, train,
                         self.spectral_norm)
      if layer.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=common.BATCH_NORM_MOMENTUM,
                         axis_name=self.axis_name, dtype=self.dtype)(h)
      if i < len(self.layers) - 1 or self.activate_last:
        h = common.maxout(h, self.maxout_pieces) if self.maxout_pieces > 1 else nn.leaky_relu(
            h, self.leaky_relu_slope)
      self.sow('intermediates', common.HIDDEN, h)
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
  sigma: str = choices.EXP_SIGMA  # a gaussian encoder's common.SIGMAS rule

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
      return common.squashed(self, h, self.prior)
    return common.gaussian_sample(self, h, noise, self.sigma)


class ConvGenerator(nn.Module):
  """G(z): the conv stack from a 1x1 latent image, a per-pixel bias and a sigmoid.

  The per-pixel bias (common.OUTPUT_BIAS) starts at zero; the trainer sets it to the
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
    bias = self.param(common.OUTPUT_BIAS, nn.initializers.zeros, h.shape[1:])
    return nn.sigmoid(h + bias)


# A unary score's head: a 1x1 convolution of its branch's 1x1 features to one logit,
# with D's dropout on its input as every other layer of D.
UNARY_HEAD = architectures.parse(('c1/1/1',))


class ConvDiscriminator(nn.Module):
  """D(x, z) = D_xz(concat(D_x(x), D_z(z))), z as a 1x1 image.

  One logit per pair, (batch,); with num_outputs=K > 1 (the K+1-class D of
  semi-supervised ALI) D_xz's last layer has K channels and D returns
  (batch, K) class logits. With unary_scores, (batch, 3) scores [s_xz, s_x, s_z]:
  the joint logit and one of D_x(x) and of D_z(z) alone (BigBiGAN's three views).
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
  spectral_norm: bool = False  # of every layer's kernel
  unary_scores: bool = False

  @nn.compact
  def __call__(self, x, z, y=None, *, train):
    a = self.arch
    stack = lambda layers, activate_last=True, **named: ConvStack(
        layers, a.leaky_relu_slope, self.init_std, activate_last=activate_last,
        maxout_pieces=a.maxout_pieces, input_dropout=self.dropout_rate,
        axis_name=self.axis_name, conv_implementation=self.conv_implementation,
        dtype=self.dtype, spectral_norm=self.spectral_norm, **named)
    joint = [stack(a.discriminator_x)(x, train=train),
             stack(a.discriminator_z)(_as_image(z), train=train)]
    if self.condition_dim:  # conditional ALI: y joins D_xz's input
      embedding = nn.Dense(self.condition_embedding, dtype=self.dtype,
                           kernel_init=nn.initializers.normal(self.init_std))
      joint.append(_as_image(common.layer(embedding, y, train, self.spectral_norm)))
    layers = a.discriminator_joint[:-1] + (
        a.discriminator_joint[-1]._replace(features=self.num_outputs),)
    logits = stack(layers, activate_last=False)(
        jnp.concatenate(joint, -1), train=train)[:, 0, 0, :].astype(jnp.float32)
    if self.unary_scores:  # made after the joint stack, so its parameters keep their names
      unary = [stack(UNARY_HEAD, activate_last=False, name=name)(features, train=train)
               for name, features in (('UnaryX', joint[0]), ('UnaryZ', joint[1]))]
      return jnp.concatenate([logits] + [u[:, 0, 0, :].astype(jnp.float32) for u in unary], -1)
    return logits[:, 0] if self.num_outputs == 1 else logits



def build(model, *, data_shape, axis_name, dtype, discriminator_outputs):
  """common.Networks of the table that model.architecture (a ModelSettings) names."""
  del data_shape  # the table fixes it (config validation checks it against the data)
  m = model
  arch = architectures.ARCHITECTURES[m.architecture]
  condition = dict(condition_dim=m.condition_dim, condition_embedding=m.condition_embedding,
                   axis_name=axis_name, conv_implementation=conv_layers.resolve_implementation(
                       m.conv_implementation), dtype=dtype)
  return common.Networks(
      encoder=ConvEncoder(arch, m.init_std, kind=m.encoder, prior=m.prior,
                          sigma=m.encoder_sigma, **condition),
      generator=ConvGenerator(arch, m.init_std, **condition),
      discriminator=ConvDiscriminator(arch, m.init_std, m.dropout_rate,
                                      num_outputs=discriminator_outputs,
                                      spectral_norm=m.discriminator_spectral_norm,
                                      unary_scores=m.discriminator_unary_scores,
                                      **condition))
