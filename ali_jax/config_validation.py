"""Checks a config before anything is built or compiled, naming the field and the fix.

Every field that the library reads is listed in FIELDS with what it accepts; a
config with a field that is unknown (a typo, say), missing, of the wrong type
or out of range stops with a message that says which and what is allowed.
"""
import difflib
import math
import numbers

from ali_jax import data
from ali_jax import losses
from ali_jax import networks
from ali_jax import state


def _integer(value):
  return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_integer(value):
  return _integer(value) and value > 0


def _non_negative_integer(value):
  return _integer(value) and value >= 0


def _positive_number(value):
  return (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and value > 0)


def _fraction(value):  # [0, 1)
  return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value < 1


def _widths(value):
  return isinstance(value, (tuple, list)) and all(_positive_integer(v) for v in value)


def _one_of(choices):
  return (lambda value: value in choices), f'one of {tuple(choices)}'


# field -> (accepts(value) -> bool, what it accepts, in words)
FIELDS = {
    'seed': (_non_negative_integer, 'an integer >= 0'),
    'dataset': _one_of(data.DATASETS),
    'data.num_train': (_positive_integer, 'a positive integer'),
    'data.num_heldout': (lambda v: _integer(v) and v >= 2, 'an integer >= 2'),
    'data.num_eval_samples': (_positive_integer, 'a positive integer'),
    'batch_size': (_positive_integer, 'a positive integer'),
    'num_train_steps': (_positive_integer, 'a positive integer'),
    'log_every_steps': (_positive_integer, 'a positive integer'),
    'eval_every_steps': (_positive_integer, 'a positive integer'),
    'checkpoint_every_steps': (_positive_integer, 'a positive integer'),
    'max_checkpoints_to_keep': (_positive_integer, 'a positive integer'),
    'nonfinite': _one_of(('stop', 'skip')),
    'loss_form': _one_of(losses.LOSS_FORMS),
    'optimizer.learning_rate': (_positive_number, 'a finite number > 0'),
    'optimizer.b1': (_fraction, 'a number in [0, 1)'),
    'optimizer.b2': (_fraction, 'a number in [0, 1)'),
    'optimizer.schedule': _one_of(state.LEARNING_RATE_SCHEDULES),
    'model.architecture': _one_of(('mlp',)),
    'model.encoder': _one_of(networks.ENCODER_KINDS),
    'model.latent_dim': (_positive_integer, 'a positive integer'),
    'model.encoder_hidden': (_widths, 'a sequence of positive integers'),
    'model.generator_hidden': (_widths, 'a sequence of positive integers'),
    'model.discriminator_hidden': (_widths, 'a sequence of positive integers'),
    'model.maxout_pieces': (_positive_integer, 'a positive integer'),
    'model.dropout_rate': (_fraction, 'a number in [0, 1)'),
    'model.init_std': (_positive_number, 'a finite number > 0'),
}


def _flatten(config, prefix=''):
  flat = {}
  for key, value in config.items():
    if hasattr(value, 'items'):
      flat.update(_flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def check_config(config, *, device_count):
  """Raises ValueError naming the first problem of `config`, if any."""
  flat = _flatten(config)
  for key in flat:
    if key not in FIELDS:
      close = difflib.get_close_matches(key, FIELDS, n=1)
      hint = f' Did you mean config.{close[0]}?' if close else ''
      raise ValueError(f'config.{key} is not a known field.{hint} Known fields: '
                       f'{", ".join(sorted(FIELDS))}.')
  for key, (accepts, allowed) in FIELDS.items():
    if key not in flat:
      raise ValueError(f'config.{key} is missing: set it to {allowed}.')
    if not accepts(flat[key]):
      raise ValueError(f'config.{key}={flat[key]!r} is not allowed: expected {allowed}.')

  if config.batch_size % device_count:
    raise ValueError(f'config.batch_size={config.batch_size} must be divisible by the '
                     f'number of devices ({device_count}).')
  if config.batch_size > config.data.num_train:
    raise ValueError(f'config.batch_size={config.batch_size} is larger than the training '
                     f'set (config.data.num_train={config.data.num_train}).')
