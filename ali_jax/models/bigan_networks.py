"""BiGAN's permutation-invariant MNIST networks (its released code, train_mnist.sh).

  E  FC1024 -> LeakyReLU(0.2); FC1024 -> BN -> LeakyReLU; linear -> z
  G  FC1024(z) -> BN -> ReLU; FC1024 + W z -> BN -> ReLU; FC784 -> sigmoid
  D  FC1024(x) -> LeakyReLU; FC1024 + W z -> BN -> LeakyReLU; linear -> 1 logit

"+ W z" is a learned linear map of z added to that layer's pre-activation, how
BiGAN joins z to G's and D's second layer. Batch norm has no scale or offset
(BiGAN's --nogain --nobias), so a layer followed by it has no bias either.
Images are flattened to 784 inputs and G's 784 outputs are reshaped to
28x28x1 (any other HxWxC image works the same way, H*W*C wide: the MLPs never
see the layout; configs/bigan_digits_mlp.py runs them on 32x32 digits); as
with the paper's conv generators, G's output has a per-pixel bias
(common.OUTPUT_BIAS, set from the data's mean by the trainer) before the
sigmoid instead of the last layer's bias. z is 50-d; with BiGAN's U(-1, 1)
prior the encoder's output is squashed into it (priors.py). A 'gaussian'
encoder (for ALI on these networks) outputs [mu, a] instead, sigma from a by
model.encoder_sigma (common.SIGMAS).

Every network is called as every family's are (common.py), so
the step, the trainer and the inference API use them unchanged.
"""
import math
from typing import Optional, Tuple

import flax.linen as nn
import jax.numpy as jnp

from ali_jax.models import common
from ali_jax.settings import choices

IMAGE_SHAPE = (28, 28, 1)  # MNIST's, for which BiGAN built them
WIDTH = 1024
LEAKY_RELU_SLOPE = 0.2


def _dense(features, init_std, dtype, use_bias=True):
  """A layer of these networks (called inside a network's compact __call__)."""
  return nn.Dense(features, use_bias=use_bias, dtype=dtype,
                  kernel_init=nn.initializers.normal(init_std))


def _batch_norm(h, train, axis_name, dtype):
  return nn.BatchNorm(use_running_average=not train, momentum=common.BATCH_NORM_MOMENTUM,
                      use_scale=False, use_bias=False, axis_name=axis_name, dtype=dtype)(h)


def _flat(x):
  return x.reshape(x.shape[0], -1)


class Encoder(nn.Module):
  init_std: float
  kind: str = choices.DETERMINISTIC_ENCODER
  latent_dim: int = choices.BIGAN_MLP_LATENT_DIM
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32
  prior: str = choices.GAUSSIAN_PRIOR
  sigma: str = choices.EXP_SIGMA  # a gaussian encoder's common.SIGMAS rule

  @nn.compact
  def __call__(self, x, noise, y=None, *, train):
    del y  # no conditional variant
    dense = lambda width, **kw: _dense(width, self.init_std, self.dtype, **kw)
    h = nn.leaky_relu(dense(WIDTH)(_flat(x)), LEAKY_RELU_SLOPE)
    self.sow('intermediates', common.HIDDEN, h)
    h = dense(WIDTH, use_bias=False)(h)
    h = nn.leaky_relu(_batch_norm(h, train, self.axis_name, self.dtype), LEAKY_RELU_SLOPE)
    self.sow('intermediates', common.HIDDEN, h)
    if self.kind == choices.GAUSSIAN_ENCODER:
      last_layer = dense(2 * self.latent_dim)(h).astype(jnp.float32)
      return common.gaussian_sample(self, last_layer, noise, self.sigma)
    output = dense(self.latent_dim)(h).astype(jnp.float32)
    return common.squashed(self, output, self.prior)


class Generator(nn.Module):
  init_std: float
  image_shape: Tuple[int, int, int] = IMAGE_SHAPE
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, z, y=None, *, train):
    del y
    dense = lambda width, **kw: _dense(width, self.init_std, self.dtype, **kw)
    h = dense(WIDTH, use_bias=False)(z)
    h = nn.relu(_batch_norm(h, train, self.axis_name, self.dtype))
    h = dense(WIDTH, use_bias=False)(h) + dense(WIDTH, use_bias=False)(z)  # + W z
    h = nn.relu(_batch_norm(h, train, self.axis_name, self.dtype))
    pixels = dense(math.prod(self.image_shape), use_bias=False)(h)
    pixels = pixels.astype(jnp.float32).reshape((-1,) + self.image_shape)
    bias = self.param(common.OUTPUT_BIAS, nn.initializers.zeros, self.image_shape)
    return nn.sigmoid(pixels + bias)


class Discriminator(nn.Module):
  """One logit per pair, (batch,); num_outputs=K > 1 gives (batch, K) class logits.

  With unary_scores, (batch, 3) scores [s_xz, s_x, s_z] (BigBiGAN's three views): s_x a
  linear score of x's hidden layer, s_z one of leaky_relu(W z), W the joint layer's
  weights on z, so that each branch's features serve its unary score and the joint one.
  """
  init_std: float
  num_outputs: int = 1
  axis_name: Optional[str] = None
  dtype: jnp.dtype = jnp.float32
  spectral_norm: bool = False  # of every layer's kernel
  unary_scores: bool = False

  @nn.compact
  def __call__(self, x, z, y=None, *, train):
    del y
    dense = lambda width, h, **kw: common.layer(_dense(width, self.init_std, self.dtype, **kw),
                                                h, train, self.spectral_norm)
    h_x = nn.leaky_relu(dense(WIDTH, _flat(x)), LEAKY_RELU_SLOPE)
    h = dense(WIDTH, h_x, use_bias=False)
    w_z = dense(WIDTH, z, use_bias=False)  # made second, as checkpoints name it
    h = h + w_z
    h = nn.leaky_relu(_batch_norm(h, train, self.axis_name, self.dtype), LEAKY_RELU_SLOPE)
    logits = dense(self.num_outputs, h).astype(jnp.float32)
    if self.unary_scores:  # made after the joint layers, so their parameters keep their names
      s_x = dense(1, h_x).astype(jnp.float32)
      s_z = dense(1, nn.leaky_relu(w_z, LEAKY_RELU_SLOPE)).astype(jnp.float32)
      return jnp.concatenate([logits, s_x, s_z], -1)
    return logits[:, 0] if self.num_outputs == 1 else logits


def build(model, *, data_shape, axis_name, dtype, discriminator_outputs):
  """common.Networks of BiGAN's MLPs as `model` (a ModelSettings) says, for (H, W, C)
  images."""
  m = model
  return common.Networks(
      encoder=Encoder(m.init_std, kind=m.encoder, latent_dim=m.latent_dim,
                      axis_name=axis_name, dtype=dtype, prior=m.prior, sigma=m.encoder_sigma),
      generator=Generator(m.init_std, image_shape=tuple(data_shape), axis_name=axis_name,
                          dtype=dtype),
      discriminator=Discriminator(m.init_std, num_outputs=discriminator_outputs,
                                  axis_name=axis_name, dtype=dtype,
                                  spectral_norm=m.discriminator_spectral_norm,
                                  unary_scores=m.discriminator_unary_scores))
