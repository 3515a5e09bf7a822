"""TrainedModel: a run's networks at one state, for inference.

encode / decode / sample / reconstruct / features / classify on numpy arrays, in
chunks that bound memory, with standing batch-norm statistics where the run recomputes
them. ali_jax.load(workdir) returns one; the trainer's evaluation uses another.
"""
import math

import jax
import jax.numpy as jnp
import numpy as np

from ali_jax.hosts import devices
from ali_jax.models import common
from ali_jax.models import priors
from ali_jax.settings import choices
from ali_jax.training import standing_statistics

# Rows per jitted call: bounds memory (a 64x64 image's activations run to
# megabytes) and keeps one compiled shape per method.
VECTOR_CHUNK = 1024
IMAGE_CHUNK = 64


def _in_chunks(fn, size, *arrays):
  """fn over the rows of `arrays` in chunks of `size` rows (the last one padded)."""
  n = len(arrays[0])
  outputs = []
  for start in range(0, max(n, 1), size):  # an empty input still gives (0, ...) out
    chunk = [a[start:start + size] for a in arrays]
    pad = size - len(chunk[0])
    chunk = [np.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1)) for a in chunk]
    outputs.append(np.asarray(fn(*chunk))[:size - pad])
  return np.concatenate(outputs)


def _checked_array(array, name, trailing_shape, value_range=None):
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
  if value_range and array.size and (array.min() < value_range[0]
                                     or array.max() > value_range[1]):
    raise ValueError(f'{name} has values in [{array.min():g}, {array.max():g}]; expected '
                     f'[{value_range[0]}, {value_range[1]}] (images as floats in [0, 1]).')
  return array


PAPER_FEATURE_LAYERS = 3  # hidden layers of the paper's SVM features (docs/papers.md section 5)


def _encoder_features(encoder, kind, hidden_layers, variables, x, noise, *y):
  """[mean of q(z|x), last `hidden_layers` hidden activations] per row, flattened."""
  z, intermediates = encoder.apply(variables, x, noise, *y, train=False,
                                   mutable=['intermediates'])
  intermediates = intermediates['intermediates']
  if kind == choices.GAUSSIAN_ENCODER:
    mean = jnp.split(common.sown(intermediates, common.MU_LOG_SIGMA)[0], 2,
                     axis=-1)[0]
  else:  # deterministic: z itself; 'noise' (the mixture): z with the noise at zero
    mean = z
  hidden = common.sown(intermediates, common.HIDDEN)
  if hidden_layers is None:
    hidden_layers = min(PAPER_FEATURE_LAYERS, len(hidden))
  if hidden_layers > len(hidden):
    raise ValueError(f'hidden_layers={hidden_layers}, but this encoder has {len(hidden)} '
                     f'hidden layers: pass at most {len(hidden)}.')
  parts = [mean] + [h.reshape(h.shape[0], -1).astype(jnp.float32)  # bfloat16 models too
                    for h in hidden[len(hidden) - hidden_layers:]] if hidden_layers else [mean]
  return jnp.concatenate(parts, axis=-1)


def _class_logits(encoder, discriminator, kind, encoder_variables, discriminator_variables,
                  x, noise):
  """D's class logits of (x, the mean of q(z|x)), both networks in inference mode."""
  mean = _encoder_features(encoder, kind, 0, encoder_variables, x, noise)
  return discriminator.apply(discriminator_variables, x, mean, train=False)


class TrainedModel:
  """The encoder and generator of a run, with batch norm in inference mode.

  A network whose parameters the run averaged (config.parameter_average) runs
  with the average.

  All methods take and return numpy arrays with the batch as the first axis.
  Images are floats in [0, 1], (batch, height, width, channels). Conditional
  models (CelebA attributes) also take `y`, (batch, condition_dim).
  """

  def __init__(self, run, state, standing_batches=None):
    """run: the run_setup.RunSetup of the run, whose jitted functions every
    TrainedModel of the run shares (so a new state compiles nothing).
    standing_batches: training batches (an iterable) for the networks whose
    batch-norm statistics the config recomputes (ali_jax/training/standing_statistics.py);
    None keeps the statistics that training kept."""
    self.config = run.config  # the run's config, as its workdir's config.json says
    self.settings = run.settings  # what the model reads of it (settings/run_settings.py)
    self._run = run
    self._state = devices.on_one_device(state)
    self.step = int(self._state.step)
    self.latent_dim = run.latent_dim
    self.data_shape = run.data_shape
    self.condition_dim = run.condition_dim
    self._value_range = (0.0, 1.0) if run.is_images else None
    self._chunk = IMAGE_CHUNK if run.is_images else VECTOR_CHUNK
    encode, decode = run.jitted_encoder(), run.jitted_generator()
    averages = getattr(self._state, 'averages', {})
    self._variables = {
        name: {'params': averages.get(name, getattr(self._state, name).params),
               'batch_stats': getattr(self._state, name).batch_stats}
        for name in choices.NETWORK_NAMES}
    recomputed = standing_statistics.networks_to_recompute(self.settings)
    if recomputed and standing_batches is not None:
      standing = standing_statistics.recompute(run, self._variables, standing_batches,
                                               recomputed)
      for name, batch_stats in standing.items():
        self._variables[name] = dict(self._variables[name], batch_stats=batch_stats)
    self._encode = lambda *arrays: encode(self._variables['encoder'], *arrays)
    self._decode = lambda *arrays: decode(self._variables['generator'], *arrays)

  def _conditions(self, y, count):
    """() for unconditional models, else (y,) checked."""
    if not self.condition_dim:
      if y is not None:
        raise ValueError('This model is not conditional: pass no y.')
      return ()
    if y is None:
      raise ValueError(f'This model is conditional: pass y of shape (batch, '
                       f'{self.condition_dim}).')
    y = _checked_array(y, 'y', (self.condition_dim,))
    if len(y) != count:
      raise ValueError(f'y has {len(y)} rows for {count} inputs.')
    return (y,)

  def encode(self, x, y=None, *, seed=0):
    """z ~ q(z | x); `seed` draws the encoder's noise (ignored by a deterministic one)."""
    x = _checked_array(x, 'x', self.data_shape, self._value_range)
    noise = np.asarray(jax.random.normal(jax.random.PRNGKey(seed),
                                         (len(x), self.latent_dim)))
    return _in_chunks(self._encode, self._chunk, x, noise, *self._conditions(y, len(x)))

  def posterior(self, x, y=None):
    """(mu, sigma) of q(z|x) = N(mu, sigma^2), for a 'gaussian' encoder."""
    if self.settings.model.encoder != choices.GAUSSIAN_ENCODER:
      raise ValueError(f'This model\'s encoder is {self.settings.model.encoder!r}: only a '
                       "'gaussian' encoder has a posterior mean and std.")
    x = _checked_array(x, 'x', self.data_shape, self._value_range)
    posterior = self._run.jitted_posterior()
    mu_log_sigma = _in_chunks(lambda *a: posterior(self._variables['encoder'], *a),
                              self._chunk, x, *self._conditions(y, len(x)))
    mu, log_sigma = np.split(mu_log_sigma, 2, axis=-1)
    return mu, np.exp(log_sigma)

  def real_logit(self, x, z, y=None):
    """D's real/fake logit of the pairs (x, z), in inference mode: how much D believes
    that each pair came from the encoder (x, E(x)) rather than the generator."""
    x = _checked_array(x, 'x', self.data_shape, self._value_range)
    z = _checked_array(z, 'z', (self.latent_dim,))
    if len(z) != len(x):
      raise ValueError(f'x has {len(x)} rows and z {len(z)}: pass one z per x.')
    real_logit = self._run.jitted_real_logit()
    return _in_chunks(lambda *a: real_logit(self._variables['discriminator'], *a),
                      self._chunk, x, z, *self._conditions(y, len(x)))

  def features(self, x, y=None, *, hidden_layers=None):
    """The encoder's features of x for downstream classifiers (docs/papers.md section 5).

    The mean of q(z|x) (z itself for a deterministic encoder) concatenated
    with the flattened activations of the last `hidden_layers` hidden layers;
    hidden_layers=0 gives the mean alone. None: the paper's SVHN L2-SVM protocol,
    the last three, or every hidden layer of an encoder with fewer (the mixture's).
    """
    if hidden_layers is not None and (not isinstance(hidden_layers, int) or hidden_layers < 0):
      raise ValueError(f'hidden_layers={hidden_layers!r}; expected None or an integer >= 0.')
    x = _checked_array(x, 'x', self.data_shape, self._value_range)
    features = self._run.jitted_features(hidden_layers, _encoder_features)
    return _in_chunks(lambda *a: features(self._variables['encoder'], *a), self._chunk,
                      x, np.zeros((len(x), self.latent_dim), np.float32),
                      *self._conditions(y, len(x)))

  @property
  def num_classes(self):
    """K for a model whose D classifies (methods semi_supervised, supervised); else 0."""
    return self._run.num_classes

  def class_logits(self, x):
    """D's K class logits of (x, the mean of q(z|x)); the fake class's logit is 0.

    Only for models whose discriminator classifies (num_classes > 0).
    """
    if not self.num_classes:
      raise ValueError(f'This model (method {self.settings.method!r}) has a real/fake '
                       'discriminator, not a classifier: only runs of the methods '
                       "'semi_supervised' and 'supervised' classify.")
    x = _checked_array(x, 'x', self.data_shape, self._value_range)
    class_logits = self._run.jitted_class_logits(_class_logits)
    return _in_chunks(lambda *a: class_logits(self._variables['encoder'],
                                              self._variables['discriminator'], *a),
                      self._chunk, x, np.zeros((len(x), self.latent_dim), np.float32))

  def classify(self, x):
    """The class of each x: argmax over D's K class logits of (x, the mean of q(z|x))."""
    return np.argmax(self.class_logits(x), axis=-1)

  def decode(self, z, y=None):
    """x = G(z)."""
    z = _checked_array(z, 'z', (self.latent_dim,))
    return _in_chunks(self._decode, self._chunk, z, *self._conditions(y, len(z)))

  def sample(self, num_samples, y=None, *, seed=0):
    """x = G(z) for z drawn from the prior (config.model.prior; N(0, I) by default)."""
    if not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
      raise ValueError(f'num_samples={num_samples!r}; expected an integer >= 0.')
    z = priors.sample(jax.random.PRNGKey(seed), (num_samples, self.latent_dim),
                      self._run.prior)
    return self.decode(np.asarray(z), y)

  @property
  def encoder_trained(self):
    """Whether the encoder had been trained by this checkpoint: False for a GAN's, and
    through a two-phase method's GAN phase (its encoder metrics would describe the
    initial weights)."""
    return self._run.encoder_trained_by(self.step)

  def reconstruct(self, x, y=None, *, seed=0):
    """G(E(x))."""
    return self.decode(self.encode(x, y, seed=seed), y)

  def param_counts(self):
    """Number of trainable parameters of each network."""
    count = lambda tree: sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))
    return {name: count(getattr(self._state, name).params)
            for name in ('encoder', 'generator', 'discriminator')}
