"""A trained model for inference: load(workdir) -> encode / decode / sample / reconstruct."""
import json
import math
import os

import jax
import ml_collections
import numpy as np

from ali_jax import checkpoints
from ali_jax import data
from ali_jax import networks as networks_lib
from ali_jax import state as state_lib
from ali_jax import workdir as workdir_lib

CONFIG_FILE = 'config.json'
_CHUNK = 1024  # rows per jitted call: bounds memory and keeps one compiled shape


def _variables(network_state):
  return {'params': network_state.params, 'batch_stats': network_state.batch_stats}


def host_copy(tree):
  """A numpy copy of one local replica of each array in `tree`.

  A state that the pmapped step returned is replicated over every device of
  every host; one replica is all that inference (or a comparison) needs.
  """
  return jax.tree.map(lambda a: np.asarray(a.addressable_data(0))
                      if isinstance(a, jax.Array) else np.asarray(a), tree)


def _in_chunks(fn, *arrays):
  """fn over the rows of `arrays` in fixed-size chunks (the last one padded)."""
  n = len(arrays[0])
  outputs = []
  for start in range(0, max(n, 1), _CHUNK):  # an empty input still gives (0, ...) out
    chunk = [a[start:start + _CHUNK] for a in arrays]
    pad = _CHUNK - len(chunk[0])
    chunk = [np.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1)) for a in chunk]
    outputs.append(np.asarray(fn(*chunk))[:_CHUNK - pad])
  return np.concatenate(outputs)


def _checked_array(array, name, trailing_shape):
  """`array` as float32 of shape (n,) + trailing_shape, or a clear error."""
  array = np.asarray(array)
  if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
    raise TypeError(f'{name} has dtype {array.dtype}; expected a real number array.')
  if array.ndim != 1 + len(trailing_shape) or array.shape[1:] != tuple(trailing_shape):
    raise ValueError(f'{name} has shape {array.shape}; expected (batch,) + '
                     f'{tuple(trailing_shape)}.')
  array = array.astype(np.float32)
  if not np.all(np.isfinite(array)):
    raise ValueError(f'{name} holds NaN or infinite values.')
  return array


class TrainedModel:
  """The encoder and generator of a run, with batch norm in inference mode.

  All methods take and return numpy arrays with the batch as the first axis.
  """

  def __init__(self, config, state):
    self.config = config
    self.step = int(jax.device_get(state.step))
    self.latent_dim = config.model.latent_dim
    self.data_shape = data.data_shape(config)
    networks = networks_lib.build_networks(config.model, data_shape=self.data_shape)
    self._state = jax.device_put(host_copy(state), jax.local_devices()[0])
    encode = jax.jit(lambda variables, x, noise: networks.encoder.apply(
        variables, x, noise, train=False))
    decode = jax.jit(lambda variables, z: networks.generator.apply(
        variables, z, train=False))
    self._encode = lambda x, noise: encode(_variables(self._state.encoder), x, noise)
    self._decode = lambda z: decode(_variables(self._state.generator), z)

  def encode(self, x, seed=0):
    """z ~ q(z | x); `seed` draws the encoder's noise (ignored by a deterministic one)."""
    x = _checked_array(x, 'x', self.data_shape)
    noise = np.asarray(jax.random.normal(jax.random.PRNGKey(seed),
                                         (len(x), self.latent_dim)))
    return _in_chunks(self._encode, x, noise)

  def decode(self, z):
    """x = G(z)."""
    return _in_chunks(self._decode, _checked_array(z, 'z', (self.latent_dim,)))

  def sample(self, num_samples, seed=0):
    """x = G(z) for z drawn from the prior N(0, I)."""
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
      raise ValueError(f'num_samples={num_samples!r}; expected an integer >= 0.')
    z = jax.random.normal(jax.random.PRNGKey(seed), (num_samples, self.latent_dim))
    return self.decode(np.asarray(z))

  def reconstruct(self, x, seed=0):
    """G(E(x))."""
    return self.decode(self.encode(x, seed))

  def param_counts(self):
    """Number of trainable parameters of each network."""
    count = lambda tree: sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))
    return {name: count(getattr(self._state, name).params)
            for name in ('encoder', 'generator', 'discriminator')}


def save_config(workdir, config):
  workdir_lib.write_text_atomically(os.path.join(workdir, CONFIG_FILE),
                                    config.to_json_best_effort(indent=2, sort_keys=True))


def load_config(workdir):
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f'No such directory: {workdir}. Pass the --workdir of a '
                            'main.py run.')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{workdir} is not an ali_jax workdir: it has no {CONFIG_FILE}. '
                            'Pass the --workdir of a main.py run.')
  try:
    with open(path) as f:
      return ml_collections.ConfigDict(json.load(f))
  except json.JSONDecodeError as error:
    raise ValueError(f'{path} is not valid JSON ({error}); it was damaged.') from None


def load(workdir, step=None):
  """The model trained in `workdir`, at its newest readable checkpoint (or at `step`)."""
  workdir = os.path.abspath(workdir)
  config = load_config(workdir)
  manager = checkpoints.make_manager(workdir, create=False)
  try:
    steps = manager.all_steps()
    if not steps:
      raise FileNotFoundError(f'{workdir} has no checkpoint yet; train (or wait for the '
                              'first checkpoint) first.')
    if step is not None and step not in steps:
      raise ValueError(f'{workdir} has no checkpoint at step {step}; it has {sorted(steps)}.')
    template = state_lib.create_train_state(config)
    _, state, failures = checkpoints.restore_newest_readable(
        manager, template, [step] if step is not None else steps)
    if state is None:
      raise RuntimeError(f'No checkpoint in {workdir} restores (step {failures[0][0]}: '
                         f'{failures[0][1]}).')
  finally:
    manager.close()
  return TrainedModel(config, state)
