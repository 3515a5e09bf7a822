"""BigBiGAN's networks (Donahue & Simonyan 2019; docs/papers.md), sized by the tables of
bigbigan_architectures.py.

  G  BigGAN's generator (Brock et al. 2019): z split into one chunk per
     resolution ("hierarchical latent"); the first chunk -> linear -> a
     base x base feature map; residual up-blocks
       [CBN -> ReLU -> upsample 2x -> conv3x3 -> CBN -> ReLU -> conv3x3]
       + [upsample 2x -> conv1x1],
     each CBN a batch norm whose gain and offset are linear in the block's z
     chunk; self-attention after the block that reaches `attention_resolution`;
     BN -> ReLU -> conv3x3 -> per-pixel bias -> sigmoid (images in [0, 1], as
     every generator here; BigGAN's tanh range is the same map up to an affine).
  D  F(x): BigGAN's residual down-blocks on 2x - 1
       [ReLU -> conv3x3 -> ReLU -> conv3x3 -> avgpool 2x2] + [conv1x1 -> avgpool],
     (the first block without its leading ReLU), self-attention at
     `attention_resolution`, ReLU and a sum over positions: the features f and
     the unary score s_x = linear(f).
     H(z): a residual MLP: the features h and the unary score s_z = linear(h).
     J([f, h]): a residual MLP, then the joint score s_xz.
     D returns (batch, 3) scores [s_xz, s_x, s_z] (losses.bigbigan_*).
  E  A pre-activation ResNet (basic or bottleneck blocks) on 2x - 1, global
     average pooling, a residual MLP head, then mu and sigma = softplus(.) of a
     Gaussian q(z|x): z = mu + sigma * noise (common.gaussian_sample, as every
     Gaussian encoder here; model.encoder_sigma = 'softplus' in its configs).

Every convolution and linear layer of G and D is spectrally normalised (flax's
nn.SpectralNorm: one power iteration per training call, its u vector kept in
'batch_stats' beside batch norm's statistics) and orthogonally initialised, as
in BigGAN; E uses batch norm and no spectral normalisation.

The tables' sizes: 'bigbigan_128' takes BigGAN's 128-px widths with ch = 96
(G 16ch at 4x4 down to ch; D ch up to 16ch; attention at 64x64) and a
ResNet-50 encoder, the paper's networks as far as docs/papers.md gives them; the
widths of H, J and E's head, and everything of 'bigbigan_32' and 'bigbigan_28',
are ours (docs/papers.md does not give them). One deviation from the paper: its E
reads 256-px images while G and D work at 128 px; here every network works at
the table's image size.

Every network is called as every family's are (common.py), so
the step, the trainer and the inference API use them unchanged.
"""
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ali_jax.models import bigbigan_architectures
from ali_jax.models import common
from ali_jax.settings import choices


# ---- Layers ---------------------------------------------------------------------------

_ORTHOGONAL = nn.initializers.orthogonal()


def _normalised(layer, h, train):
  """`layer` applied with spectrally normalised weights (one power iteration when training)."""
  return common.layer(layer, h, train, spectral_norm=True)


def _conv(features, kernel, dtype, name=None, use_bias=True):
  return nn.Conv(features, (kernel, kernel), padding='SAME', kernel_init=_ORTHOGONAL,
                 use_bias=use_bias, dtype=dtype, name=name)


def _dense(features, dtype, name=None, use_bias=True):
  return nn.Dense(features, kernel_init=_ORTHOGONAL, use_bias=use_bias, dtype=dtype,
                  name=name)


# G's layers that batch norm (or the per-pixel output bias) follows have no bias
# of their own: it would be removed again, and its gradient, zero up to
# rounding, would still move it by Adam's step size.
_NO_BIAS = dict(use_bias=False)


def _upsample(h):
  return jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)


def _avgpool(h):
  return nn.avg_pool(h, (2, 2), strides=(2, 2))


def _batch_norm(train, axis_name, dtype, **kw):
  return nn.BatchNorm(use_running_average=not train, momentum=common.BATCH_NORM_MOMENTUM,
                      axis_name=axis_name, dtype=dtype, **kw)


class ConditionalBatchNorm(nn.Module):
  """Batch norm whose gain 1 + W_g z and offset W_b z are linear in z (BigGAN's CBN)."""
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, z, *, train):
    h = _batch_norm(train, self.axis_name, self.dtype, use_scale=False, use_bias=False)(h)
    channels = h.shape[-1]
    gain = _normalised(_dense(channels, self.dtype, name='gain'), z, train)
    offset = _normalised(_dense(channels, self.dtype, name='offset'), z, train)
    return h * (1.0 + gain[:, None, None, :]) + offset[:, None, None, :]


class SelfAttention(nn.Module):
  """SAGAN's non-local block: x + gamma * attention(x), gamma starting at 0.

  Queries have C/8 channels; keys (C/8) and values (C/2) are max-pooled 2x2.
  """
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, *, train):
    n, height, width, c = h.shape
    pool = lambda a: nn.max_pool(a, (2, 2), strides=(2, 2))
    query = _normalised(_conv(c // 8, 1, self.dtype, name='query'), h, train)
    key = pool(_normalised(_conv(c // 8, 1, self.dtype, name='key'), h, train))
    value = pool(_normalised(_conv(c // 2, 1, self.dtype, name='value'), h, train))
    query = query.reshape(n, height * width, c // 8)
    key, value = key.reshape(n, -1, c // 8), value.reshape(n, -1, c // 2)
    attention = jax.nn.softmax(jnp.einsum('nqc,nkc->nqk', query, key), axis=-1)
    attended = jnp.einsum('nqk,nkc->nqc', attention, value).reshape(n, height, width, c // 2)
    out = _normalised(_conv(c, 1, self.dtype, name='out'), attended, train)
    gamma = self.param('gamma', nn.initializers.zeros, ())
    return h + gamma * out


class ResidualMLP(nn.Module):
  """`layers` Dense -> ReLU layers of `width` (spectrally normalised), each after
  the first added to its input."""
  width: int
  layers: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, *, train):
    for i in range(self.layers):
      out = nn.relu(_normalised(_dense(self.width, self.dtype), h, train))
      h = h + out if i else out
    return h


def _in_range(x):
  """Images in [0, 1] -> [-1, 1], the range BigGAN's networks read."""
  return 2.0 * x - 1.0


# ---- The three networks -----------------------------------------------------------------

class GeneratorBlock(nn.Module):
  channels: int
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, z, *, train):
    cbn = lambda a: ConditionalBatchNorm(self.axis_name, self.dtype)(a, z, train=train)
    out = _upsample(nn.relu(cbn(h)))
    out = _normalised(_conv(self.channels, 3, self.dtype, **_NO_BIAS), out, train)
    out = _normalised(_conv(self.channels, 3, self.dtype, **_NO_BIAS), nn.relu(cbn(out)),
                      train)
    shortcut = _normalised(_conv(self.channels, 1, self.dtype, **_NO_BIAS), _upsample(h),
                           train)
    return out + shortcut


class Generator(nn.Module):
  arch: bigbigan_architectures.Architecture
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, y=None, *, train):
    del y  # no conditional variant
    a = self.arch
    chunks = jnp.split(z, a.latent_chunks, axis=-1)
    h = _normalised(_dense(a.generator_base ** 2 * a.generator_channels[0], self.dtype,
                           **_NO_BIAS), chunks[0], train)
    h = h.reshape(-1, a.generator_base, a.generator_base, a.generator_channels[0])
    for channels, chunk in zip(a.generator_channels[1:], chunks[1:]):
      h = GeneratorBlock(channels, self.axis_name, self.dtype)(h, chunk, train=train)
      if h.shape[1] == a.attention_resolution:
        h = SelfAttention(self.dtype)(h, train=train)
    h = nn.relu(_batch_norm(train, self.axis_name, self.dtype)(h))
    h = _normalised(_conv(a.channels, 3, self.dtype, **_NO_BIAS), h, train).astype(jnp.float32)
    bias = self.param(common.OUTPUT_BIAS, nn.initializers.zeros, h.shape[1:])
    return nn.sigmoid(h + bias)


class DiscriminatorBlock(nn.Module):
  channels: int
  downsample: bool
  first: bool  # the first block reads the image itself: no ReLU before its conv
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, *, train):
    pool = _avgpool if self.downsample else (lambda a: a)
    out = h if self.first else nn.relu(h)
    out = _normalised(_conv(self.channels, 3, self.dtype), out, train)
    out = pool(_normalised(_conv(self.channels, 3, self.dtype), nn.relu(out), train))
    shortcut = h
    if self.first:  # pool first: the 1x1 conv then runs on a quarter of the positions
      shortcut = _normalised(_conv(self.channels, 1, self.dtype), pool(h), train)
    elif self.downsample or h.shape[-1] != self.channels:
      shortcut = pool(_normalised(_conv(self.channels, 1, self.dtype), h, train))
    return out + shortcut


class Discriminator(nn.Module):
  """(batch, 3) scores [s_xz, s_x, s_z] of pairs (x, z)."""
  arch: bigbigan_architectures.Architecture
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, z, y=None, *, train):
    del y
    a = self.arch
    h = _in_range(x)
    for i, (channels, down) in enumerate(zip(a.discriminator_channels,
                                             a.discriminator_downsample)):
      h = DiscriminatorBlock(channels, down, first=i == 0, dtype=self.dtype)(h, train=train)
      if h.shape[1] == a.attention_resolution:
        h = SelfAttention(self.dtype)(h, train=train)
    x_features = jnp.sum(nn.relu(h), axis=(1, 2))  # F(x)
    z_features = ResidualMLP(*a.unary_z, dtype=self.dtype, name='H')(z, train=train)
    joint = ResidualMLP(*a.joint, dtype=self.dtype, name='J')(
        jnp.concatenate([x_features, z_features], -1), train=train)
    score = lambda name, h: _normalised(_dense(1, self.dtype, name=name), h, train)
    return jnp.concatenate([score('joint_score', joint), score('x_score', x_features),
                            score('z_score', z_features)], -1).astype(jnp.float32)


class EncoderBlock(nn.Module):
  """A pre-activation residual block (He et al. 2016), basic or bottleneck."""
  channels: int
  stride: int
  bottleneck: bool
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, h, *, train):
    bn = lambda a: nn.relu(_batch_norm(train, self.axis_name, self.dtype)(a))
    conv = lambda c, k, s=1: nn.Conv(c, (k, k), strides=(s, s), padding='SAME',
                                     use_bias=False, dtype=self.dtype)
    pre = bn(h)
    shortcut = h
    if self.stride != 1 or h.shape[-1] != self.channels:
      shortcut = conv(self.channels, 1, self.stride)(pre)
    if self.bottleneck:
      inner = self.channels // 4
      out = conv(inner, 1)(pre)
      out = conv(inner, 3, self.stride)(bn(out))
      out = conv(self.channels, 1)(bn(out))
    else:
      out = conv(self.channels, 3, self.stride)(pre)
      out = conv(self.channels, 3)(bn(out))
    return out + shortcut


class Encoder(nn.Module):
  """A Gaussian q(z|x) = N(mu, sigma^2) from a ResNet (BigBiGAN: sigma = softplus(.))."""
  arch: bigbigan_architectures.Architecture
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32
  sigma: str = choices.SOFTPLUS_SIGMA  # a common.SIGMAS rule

  @nn.compact
  def __call__(self, x, noise, y=None, *, train):
    del y
    a = self.arch
    h = _in_range(x)
    if a.encoder_bottleneck:  # ResNet-50's stem: 7x7/2 conv and a 3x3/2 max pool
      h = nn.Conv(a.encoder_stem, (7, 7), strides=(2, 2), padding='SAME', use_bias=False,
                  dtype=self.dtype)(h)
      h = nn.max_pool(h, (3, 3), strides=(2, 2), padding='SAME')
    else:
      h = nn.Conv(a.encoder_stem, (3, 3), padding='SAME', use_bias=False, dtype=self.dtype)(h)
    for stage in a.encoder_stages:
      for i in range(stage.blocks):
        h = EncoderBlock(stage.channels, stage.stride if i == 0 else 1, a.encoder_bottleneck,
                         self.axis_name, self.dtype)(h, train=train)
    h = nn.relu(_batch_norm(train, self.axis_name, self.dtype)(h))
    h = jnp.mean(h, axis=(1, 2))
    self.sow('intermediates', common.HIDDEN, h)
    width, layers = a.encoder_head
    for i in range(layers):
      out = nn.relu(nn.Dense(width, dtype=self.dtype)(h))
      h = h + out if i and h.shape[-1] == width else out
      self.sow('intermediates', common.HIDDEN, h)
    last_layer = nn.Dense(2 * a.latent_dim, dtype=self.dtype)(h).astype(jnp.float32)
    return common.gaussian_sample(self, last_layer, noise, self.sigma)


def build(model, *, data_shape, axis_name, dtype, discriminator_outputs):
  """common.Networks of the BigBiGAN that model.architecture (a ModelSettings) names."""
  del data_shape  # the table fixes it (config validation checks it against the data)
  if discriminator_outputs != 1:
    raise ValueError('A BigBiGAN discriminator outputs its three scores only.')
  arch = bigbigan_architectures.ARCHITECTURES[model.architecture]
  return common.Networks(encoder=Encoder(arch, axis_name=axis_name, dtype=dtype,
                                           sigma=model.encoder_sigma),
                           generator=Generator(arch, axis_name=axis_name, dtype=dtype),
                           discriminator=Discriminator(arch, dtype=dtype))
