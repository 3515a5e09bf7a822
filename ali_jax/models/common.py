"""What every network family shares: how it is called, what it sows, its sigma rules.

Every network is called as
  encoder(x, noise, y, train=...) -> z         noise: (batch, latent_dim)
  generator(z, y, train=...) -> x
  discriminator(x, z, y, train=...) -> logits  (batch,)
where y is the condition (CelebA's attributes), None for unconditional models.
so the train step, the trainer and the inference API never look inside them.
Each family (mixture_networks, ali_networks, bigan_networks, bigbigan_networks)
builds its three networks from these pieces; registry.py picks the family.

Batch norm takes an ``axis_name``: under pmap its statistics are computed over
the global batch (all devices), which makes a multi-device step the same maths
as the one-device step on the same global batch. Population statistics follow
the paper's p <- 0.95 p + 0.05 batch (momentum 0.95).
"""
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ali_jax.models import priors
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


def layer(module, h, train, spectral_norm=False):
  """`module` (a layer: Dense, Conv ...) applied to h; with spectral_norm, through
  flax's nn.SpectralNorm (Miyato et al. 2018: each kernel divided by its largest singular
  value, estimated by one power iteration per training call, its vector kept in
  batch_stats)."""
  if not spectral_norm:
    return module(h)
  return nn.SpectralNorm(module)(h, update_stats=train)


def maxout(x, pieces):
  """Max over `pieces` consecutive groups of features: (..., n*pieces) -> (..., n)."""
  return x.reshape(x.shape[:-1] + (x.shape[-1] // pieces, pieces)).max(axis=-1)


class Networks(NamedTuple):
  encoder: nn.Module
  generator: nn.Module
  discriminator: nn.Module


def output_bias_from_data(images):
  """The paper's initial per-pixel bias: log-odds of the per-pixel data mean."""
  mean = np.clip(np.mean(images, axis=0), 1e-7, 1 - 1e-7)
  return np.log(mean / (1 - mean)).astype(np.float32)
