"""Checks a config before anything is built or compiled, naming the field and the fix.

Every field that the library reads is listed below with what it accepts; a
config with a field that is unknown (a typo, say), missing, of the wrong type
or out of range stops with a message that says which and what is allowed.
"""
import difflib
import math
import numbers

from ali_jax import architectures
from ali_jax import data
from ali_jax import losses
from ali_jax import networks
from ali_jax import objectives
from ali_jax import state
from ali_jax.data import images


def _integer(value):
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_integer(value):
  return _integer(value) and value > 0


def _non_negative_integer(value):
  return _integer(value) and value >= 0


def _positive_number(value):
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0)


def _non_negative_number(value):
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and value >= 0)


def _fraction(value):  # [0, 1)
  return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value < 1


def _widths(value):
  return isinstance(value, (tuple, list)) and all(_positive_integer(v) for v in value)


def _one_of(choices):
  return (lambda value: value in choices), f'one of {tuple(choices)}'


def _optional_string(value):
  return value is None or isinstance(value, str)


# field -> (accepts(value) -> bool, what it accepts, in words)
COMMON_FIELDS = {
    'seed': (_non_negative_integer, 'an integer >= 0'),
    'dataset': _one_of(data.DATASETS),
    'data.num_heldout': (lambda v: _integer(v) and v >= 2, 'an integer >= 2'),
    'data.num_eval_samples': (_positive_integer, 'a positive integer'),
    'batch_size': (_positive_integer, 'a positive integer'),
    'num_train_steps': (_positive_integer, 'a positive integer'),
    'log_every_steps': (_positive_integer, 'a positive integer'),
    'eval_every_steps': (_positive_integer, 'a positive integer'),
    'checkpoint_every_steps': (_positive_integer, 'a positive integer'),
    'max_checkpoints_to_keep': (_positive_integer, 'a positive integer'),
    'nonfinite': _one_of(('stop', 'skip')),
    'method': _one_of(objectives.METHODS),
    'method_options.inference_steps': (_non_negative_integer, 'an integer >= 0'),
    'method_options.gan_workdir': (lambda v: isinstance(v, str),
                                   "a path, or '' to train the GAN phase in the run"),
    'method_options.regression_weight': (_non_negative_number, 'a finite number >= 0'),
    'method_options.cycle_weight': (_non_negative_number, 'a finite number >= 0'),
    'method_options.vae_observation_std': (_positive_number, 'a finite number > 0'),
    'loss_form': _one_of(losses.LOSS_FORMS),
    'optimizer.learning_rate': (_positive_number, 'a finite number > 0'),
    'optimizer.b1': (_fraction, 'a number in [0, 1)'),
    'optimizer.b2': (_fraction, 'a number in [0, 1)'),
    'optimizer.schedule': _one_of(state.LEARNING_RATE_SCHEDULES),
    'optimizer.discriminator_learning_rate_scale': (_positive_number, 'a finite number > 0'),
    'model.encoder': _one_of(networks.ENCODER_KINDS),
    'model.latent_dim': (_positive_integer, 'a positive integer'),
    'model.dropout_rate': (_fraction, 'a number in [0, 1)'),
    'model.init_std': (_positive_number, 'a finite number > 0'),
    'model.dtype': _one_of(tuple(networks.COMPUTE_DTYPES)),
}
MIXTURE_FIELDS = {
    'data.num_train': (_positive_integer, 'a positive integer'),
    'model.architecture': _one_of(('mlp',)),
    'model.encoder_hidden': (_widths, 'a sequence of positive integers'),
    'model.generator_hidden': (_widths, 'a sequence of positive integers'),
    'model.discriminator_hidden': (_widths, 'a sequence of positive integers'),
    'model.maxout_pieces': (_positive_integer, 'a positive integer'),
}
IMAGE_FIELDS = {
    'data_source': _one_of(data.DATA_SOURCES),
    'data.data_dir': (_optional_string, 'None (~/tensorflow_datasets) or a folder'),
    'model.architecture': _one_of(tuple(architectures.ARCHITECTURES)),
    'model.condition_dim': (_non_negative_integer, 'an integer >= 0 (0: unconditional)'),
    'model.condition_embedding': (_positive_integer, 'a positive integer'),
    'model.conv_implementation': _one_of(('auto',) + tuple(networks.CONV_IMPLEMENTATIONS)),
    'evaluation.class_metrics': (lambda v: isinstance(v, bool), 'True or False'),
    'evaluation.reference_examples': (_positive_integer, 'a positive integer'),
}
# Datasets prepared from files of their own, beyond IMAGE_FIELDS.
DATASET_FIELDS = {
    'fashion_mnist': {
        'data.manual_dir': (lambda v: isinstance(v, str) and bool(v),
                            'the folder of the four original .gz IDX files'),
    },
}


# Fields added after runs were already made -> the value that those runs had.
ADDED_FIELDS = {
    'optimizer.discriminator_learning_rate_scale': 1.0,
}


def flatten(config, prefix=''):
  """{'model.latent_dim': 2, ...}; tuples become lists, as a JSON round trip makes them."""
  flat = {}
  for key, value in config.items():
    if hasattr(value, 'items'):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = list(value) if isinstance(value, tuple) else value
  return flat


def check_config(config, *, device_count):
  """Raises ValueError naming the first problem of `config`, if any."""
  flat = flatten(config)
  accepts_dataset, datasets = COMMON_FIELDS['dataset']
  if not accepts_dataset(flat.get('dataset')):
    raise ValueError(f'config.dataset={flat.get("dataset")!r} is not allowed: expected '
                     f'{datasets}.')
  is_mixture = flat['dataset'] == 'mixture'
  fields = {**COMMON_FIELDS, **(MIXTURE_FIELDS if is_mixture else IMAGE_FIELDS),
            **DATASET_FIELDS.get(flat['dataset'], {})}
  for key in flat:
    if key not in fields:
      close = difflib.get_close_matches(key, fields, n=1)
      hint = f' Did you mean config.{close[0]}?' if close else ''
      raise ValueError(f'config.{key} is not a known field of a {flat["dataset"]} config.'
                       f'{hint} Known fields: {", ".join(sorted(fields))}.')
  for key, (accepts, allowed) in fields.items():
    if key not in flat:
      raise ValueError(f'config.{key} is missing: set it to {allowed}.')
    if not accepts(flat[key]):
      raise ValueError(f'config.{key}={flat[key]!r} is not allowed: expected {allowed}.')

  _check_method(config)
  if config.batch_size % device_count:
    raise ValueError(f'config.batch_size={config.batch_size} must be divisible by the '
                     f'number of devices ({device_count}).')
  if is_mixture:
    if config.batch_size > config.data.num_train:
      raise ValueError(f'config.batch_size={config.batch_size} is larger than the training '
                       f'set (config.data.num_train={config.data.num_train}).')
  else:
    _check_image_model(config)


def _check_method(config):
  """The method must suit the encoder and the dataset it is given."""
  method, encoder = config.method, config.model.encoder
  if method == objectives.BIGAN and encoder != networks.DETERMINISTIC:
    raise ValueError(f"config.method='bigan' learns a deterministic encoder, but "
                     f"config.model.encoder={encoder!r}: set it to 'deterministic' (or "
                     "use config.method='ali' for a stochastic one).")
  if method == objectives.ALI and encoder == networks.DETERMINISTIC:
    raise ValueError("config.method='ali' learns a stochastic encoder, but "
                     "config.model.encoder='deterministic': use config.method='bigan', or "
                     f"set config.model.encoder to one of {networks.GAUSSIAN!r}, "
                     f"{networks.NOISE_INPUT!r} (mixture).")
  if method == objectives.VAE:
    if config.dataset != 'mixture':
      raise ValueError("config.method='vae' is for the mixture only (the paper compares "
                       'a VAE there); pick another method for images.')
    if encoder != networks.GAUSSIAN:
      raise ValueError(f"config.method='vae' needs config.model.encoder='gaussian' (its KL "
                       f"term needs mu and sigma), not {encoder!r}.")
  inference_steps = config.method_options.inference_steps
  if method in objectives.TWO_PHASE_METHODS and not (
      0 < inference_steps < config.num_train_steps):
    raise ValueError(
        f'config.method={method!r} trains a GAN, then inference for the last '
        f'config.method_options.inference_steps steps; it is {inference_steps}, but must be '
        f'between 1 and config.num_train_steps - 1 = {config.num_train_steps - 1}.')
  if config.method_options.gan_workdir and method not in objectives.TWO_PHASE_METHODS:
    raise ValueError(
        f'config.method_options.gan_workdir is set, but config.method={method!r} has no GAN '
        f'phase to take from it (only {", ".join(objectives.TWO_PHASE_METHODS)} do): '
        "set it to ''.")


def _check_image_model(config):
  """The architecture must take the dataset's images and the config's latents."""
  arch = architectures.ARCHITECTURES[config.model.architecture]
  height, width, channels = data.data_shape(config)
  if (arch.image_size, arch.image_size, arch.channels) != (height, width, channels):
    raise ValueError(
        f'config.model.architecture={config.model.architecture!r} takes {arch.image_size}x'
        f'{arch.image_size}x{arch.channels} images, but config.dataset={config.dataset!r} '
        f'gives {height}x{width}x{channels}. Architectures for it: ' + ', '.join(
            name for name, a in architectures.ARCHITECTURES.items()
            if (a.image_size, a.channels) == (height, channels)) + '.')
  if config.model.latent_dim != arch.latent_dim:
    raise ValueError(f'config.model.latent_dim={config.model.latent_dim} does not match '
                     f'the {config.model.architecture!r} architecture, whose encoder ends in '
                     f'2 x {arch.latent_dim} channels: set it to {arch.latent_dim}.')
  if config.model.encoder == networks.NOISE_INPUT:
    raise ValueError("config.model.encoder='noise' is for the mixture's MLP; image models "
                     "take 'gaussian' (ALI) or 'deterministic' (BiGAN).")
  if config.model.condition_dim and config.dataset != 'celeba':
    raise ValueError(f'config.model.condition_dim={config.model.condition_dim}: only celeba '
                     'has attributes to condition on; set it to 0.')
  if config.model.condition_dim not in (0, images.CELEBA_ATTRIBUTES):
    raise ValueError(f'config.model.condition_dim={config.model.condition_dim}: CelebA has '
                     f'{images.CELEBA_ATTRIBUTES} attributes; set it to 0 or '
                     f'{images.CELEBA_ATTRIBUTES}.')
