"""Dropout whose random mask costs a quarter of the hashing of flax's nn.Dropout.

nn.Dropout draws jax.random.bernoulli: one threefry2x32 hash per unit, each
hash giving 64 bits of which 32 are kept. XLA:CPU runs threefry as a loop of 5
passes over the whole counter array, so the masks of the SVHN discriminator
(11 M units per step) were a tenth of the step on 2 CPU cores (measured with
experiments/layer_benchmark.py when this was written). Here each hash
gives four 16-bit draws: a unit is kept when its draw is below
t = round(keep_rate * 2^16), i.e. with probability q = t / 2^16 (rate 0.2 keeps
0.8000031 instead of 0.8), and kept units are scaled by 1/q so that the expected
output is exactly the input, as with nn.Dropout.

Same interface and key stream as nn.Dropout (rng collection 'dropout', one
make_rng per call, none when the rate is 0 or it is deterministic), not the
same masks: a seed gives other masks than it did with nn.Dropout.
"""
import math

import flax.linen as nn
import jax
from jax.extend import random as jax_random
import jax.numpy as jnp
import numpy as np

from ali_jax.models import remat

DRAW_BITS = 16
_DRAWS_PER_HASH = 64 // DRAW_BITS


def keep_threshold(keep_rate):
  """t: a unit is kept when its 16-bit draw is < t; q = t / 2^16."""
  return int(round(keep_rate * 2 ** DRAW_BITS))


def keep_mask(key, keep_rate, shape):
  """Boolean mask of `shape`, each unit True with probability keep_threshold / 2^16."""
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  if key.shape != (2,):
    raise ValueError(f'dropout needs a threefry2x32 key (2 uint32 words), got shape '
                     f'{key.shape}; use the default jax.random key implementation.')
  size = math.prod(shape)
  hashes = -(-size // _DRAWS_PER_HASH)
  if hashes >= 2 ** 32:
    raise ValueError(f'dropout over {size} units: more than 2^32 hashes; split the array.')
  counts = jax.lax.iota(jnp.uint32, hashes)
  high, low = jax_random.threefry2x32_p.bind(key[0], key[1], jnp.zeros_like(counts), counts)
  mask = np.uint32(2 ** DRAW_BITS - 1)
  draws = jnp.stack([high >> DRAW_BITS, high & mask, low >> DRAW_BITS, low & mask], axis=-1)
  draws = draws.reshape(-1)[:size].reshape(shape)
  return draws < np.uint32(keep_threshold(keep_rate))


class Dropout(nn.Module):
  """nn.Dropout(rate) with 16-bit draws (module docstring)."""
  rate: float
  deterministic: bool = False

  @nn.compact
  def __call__(self, x):
    if self.rate == 0.0 or self.deterministic:
      return x
    if self.rate == 1.0:
      return jnp.zeros_like(x)
    keep_rate = 1.0 - self.rate
    # Named so that model.remat='elementwise' keeps the mask rather than hash again.
    kept = remat.name_dropout_mask(keep_mask(self.make_rng('dropout'), keep_rate, x.shape))
    scale = 2 ** DRAW_BITS / keep_threshold(keep_rate)
    return jnp.where(kept, x * jnp.asarray(scale, x.dtype), jnp.zeros((), x.dtype))
