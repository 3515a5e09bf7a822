"""Every config field, declared once: what it accepts, whether it may change
when a run resumes, and what runs made before it existed had.

A config with a field that is unknown (a typo, say), missing, of the wrong type
or out of range stops before anything is built or compiled, with a message
that says which field and what is allowed. Values of the fields themselves
(the defaults) are the configs' (configs/, choices.default_method_options()).
"""
import difflib
import math
import numbers
from typing import Any, Callable, NamedTuple

from ali_jax import architectures
from ali_jax import bigbigan_architectures
from ali_jax.settings import choices
from ali_jax.settings import datasets
from ali_jax.settings import mistakes


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


# How a field may change when a run resumes (workdir.check_compatible).
FIXED = 'fixed'            # it changes what the saved state means: never
REPORTING = 'reporting'    # how the run logs, saves and evaluates
MAY_CHANGE = 'may_change'  # how long the run is, or how the same numbers are computed
NOT_ADDED = object()       # the field existed from the first runs


class Field(NamedTuple):
  accepts: Callable[[Any], bool]
  allowed: str  # what it accepts, in words
  on_resume: str = FIXED
  # What runs made before the field existed had (a value, or a function of
  # their config); their saved config.json is read as if it said so.
  before_it_existed: Any = NOT_ADDED


def _one_of(values, **field):
  return Field(lambda value: value in values, f"one of {tuple(values)}", **field)


def _method_before_methods(config):
  """Runs made before config.method existed were ALI or BiGAN runs."""
  return choices.BIGAN if config.model.encoder == choices.DETERMINISTIC_ENCODER else choices.ALI


def _sigma_before_it_existed(config):
  """Gaussian encoders had ALI's exp sigma, BigBiGAN's its softplus."""
  return choices.default_encoder_sigma(config.model.architecture)


def _method_option(name, accepts, allowed, **field):
  return {f'method_options.{name}': Field(
      accepts, allowed, before_it_existed=choices.default_method_options()[name], **field)}


def _optional_string(value):
  return value is None or isinstance(value, str)


COMMON_FIELDS = {
    'seed': Field(_non_negative_integer, 'an integer >= 0'),
    'dataset': _one_of(datasets.DATASETS),
    'data.num_heldout': Field(lambda v: _integer(v) and v >= 2, 'an integer >= 2'),
    # What the final evaluation reads: the test split for a reported number, the
    # validation split for a run of a sweep that chooses a setting.
    'data.final_split': _one_of(datasets.HELDOUT_SPLITS, on_resume=REPORTING,
                                before_it_existed=datasets.TEST),
    'data.num_eval_samples': Field(_positive_integer, 'a positive integer'),
    'batch_size': Field(_positive_integer, 'a positive integer'),
    # A cosine learning rate schedule follows num_train_steps, so extending a
    # run stretches its decay.
    'num_train_steps': Field(_positive_integer, 'a positive integer', MAY_CHANGE),
    'log_every_steps': Field(_positive_integer, 'a positive integer', REPORTING),
    'eval_every_steps': Field(_positive_integer, 'a positive integer', REPORTING),
    'checkpoint_every_steps': Field(_positive_integer, 'a positive integer', REPORTING),
    'max_checkpoints_to_keep': Field(_positive_integer, 'a positive integer', REPORTING),
    'nonfinite': _one_of(('stop', 'skip'), on_resume=MAY_CHANGE),
    # A checkpoint write still unfinished after this long stops the run.
    'checkpoint_write_timeout_s': Field(_positive_number, 'a finite number > 0', REPORTING,
                                        before_it_existed=600.0),
    # A bucket workdir's lock is taken over after this long without a heartbeat.
    'workdir_lock_stale_s': Field(_positive_number, 'a finite number > 0', REPORTING,
                                  before_it_existed=120.0),
    'method': _one_of(choices.METHODS, before_it_existed=_method_before_methods),
    **_method_option('inference_steps', _non_negative_integer, 'an integer >= 0'),
    **_method_option('gan_workdir', lambda v: isinstance(v, str),
                     "a path, or '' to train the GAN phase in the run", on_resume=MAY_CHANGE),
    **_method_option('regression_weight', _non_negative_number, 'a finite number >= 0'),
    **_method_option('cycle_weight', _non_negative_number, 'a finite number >= 0'),
    **_method_option('vae_observation_std', _positive_number, 'a finite number > 0'),
    **_method_option('reconstruction', lambda v: v in choices.RECONSTRUCTION_NORMS,
                     f'one of {choices.RECONSTRUCTION_NORMS}'),
    **_method_option('num_labels', _non_negative_integer,
                     'an integer >= 0 (> 0 for the labelled methods)'),
    **_method_option('labels_seed', _non_negative_integer, 'an integer >= 0'),
    **_method_option('unsupervised_weight', _non_negative_number, 'a finite number >= 0'),
    'parameter_average.decay': Field(_fraction, 'a number in [0, 1) (0: no average)',
                                     before_it_existed=0.0),
    'parameter_average.networks': Field(
        lambda v: (isinstance(v, (tuple, list)) and len(set(v)) == len(v)
                   and all(n in choices.NETWORK_NAMES for n in v)),
        f'a sequence of distinct names from {choices.NETWORK_NAMES}',
        before_it_existed=['discriminator']),
    'loss_form': _one_of(choices.LOSS_FORMS),
    'optimizer.learning_rate': Field(_positive_number, 'a finite number > 0'),
    'optimizer.b1': Field(_fraction, 'a number in [0, 1)'),
    'optimizer.b2': Field(_fraction, 'a number in [0, 1)'),
    'optimizer.schedule': _one_of(choices.LEARNING_RATE_SCHEDULES),
    'optimizer.decay_start_fraction': Field(_fraction, 'a number in [0, 1)',
                                            before_it_existed=0.5),
    'optimizer.final_learning_rate_scale': Field(
        lambda v: _positive_number(v) and v <= 1, 'a number in (0, 1]', before_it_existed=0.01),
    'optimizer.weight_decay': Field(_non_negative_number, 'a finite number >= 0',
                                    before_it_existed=0.0),
    'optimizer.discriminator_learning_rate_scale': Field(
        _positive_number, 'a finite number > 0', before_it_existed=1.0),
    'model.encoder': _one_of(choices.ENCODER_KINDS),
    'model.encoder_sigma': _one_of(choices.ENCODER_SIGMAS,
                                   before_it_existed=_sigma_before_it_existed),
    'model.latent_dim': Field(_positive_integer, 'a positive integer'),
    'model.dropout_rate': Field(_fraction, 'a number in [0, 1)'),
    'model.init_std': Field(_positive_number, 'a finite number > 0'),
    # The same maths in another precision: may change on resume (the rounding changes).
    'model.dtype': _one_of(choices.DTYPES, on_resume=MAY_CHANGE,
                           before_it_existed='float32'),
    'model.prior': _one_of(choices.PRIORS, before_it_existed=choices.GAUSSIAN_PRIOR),
    # What the backward pass recomputes: the same gradients, so it may change on resume.
    'model.remat': _one_of(choices.REMAT_POLICIES, on_resume=MAY_CHANGE, before_it_existed='none'),
    # Runs made before it existed called D once on both kinds of pairs.
    'model.discriminator_batches': _one_of(choices.DISCRIMINATOR_BATCHES,
                                           before_it_existed=choices.JOINT),
}
MIXTURE_FIELDS = {
    'data.num_train': Field(_positive_integer, 'a positive integer'),
    'model.architecture': _one_of(('mlp',)),
    'model.encoder_hidden': Field(_widths, 'a sequence of positive integers'),
    'model.generator_hidden': Field(_widths, 'a sequence of positive integers'),
    'model.discriminator_hidden': Field(_widths, 'a sequence of positive integers'),
    'model.maxout_pieces': Field(_positive_integer, 'a positive integer'),
}
IMAGE_FIELDS = {
    'data_source': _one_of(datasets.DATA_SOURCES),
    'data.data_dir': Field(_optional_string, 'None (~/tensorflow_datasets) or a folder'),
    # Runs made before validation was carved out of the training data trained on all of
    # it (ali_jax/settings/datasets.py, ImageDatasetSpec.before_validation).
    'data.carve_validation': Field(lambda v: isinstance(v, bool), 'True or False',
                                   before_it_existed=False),
    'model.architecture': _one_of(tuple(architectures.ARCHITECTURES) + (choices.BIGAN_MLP,)
                                  + tuple(bigbigan_architectures.ARCHITECTURES)),
    'model.condition_dim': Field(_non_negative_integer, 'an integer >= 0 (0: unconditional)'),
    'model.condition_embedding': Field(_positive_integer, 'a positive integer'),
    # Every formulation computes the same numbers: may change on resume.
    'model.conv_implementation': _one_of((choices.AUTO,) + choices.CONV_IMPLEMENTATIONS,
                                         on_resume=MAY_CHANGE, before_it_existed='auto'),
    'evaluation.class_metrics': Field(lambda v: isinstance(v, bool), 'True or False',
                                      REPORTING, before_it_existed=False),
    'evaluation.reference_examples': Field(_positive_integer, 'a positive integer',
                                           REPORTING, before_it_existed=60_000),
    'evaluation.standing_statistics_batches': Field(_non_negative_integer, 'an integer >= 0',
                                                    REPORTING, before_it_existed=0),
    'evaluation.standing_statistics_for': _one_of(choices.STANDING_STATISTICS_FOR,
                                                  on_resume=REPORTING,
                                                  before_it_existed=choices.AVERAGED_NETWORKS),
}
# Datasets prepared from files of their own, beyond IMAGE_FIELDS.
DATASET_FIELDS = {
    'fashion_mnist': {
        'data.manual_dir': Field(lambda v: isinstance(v, str) and bool(v),
                                 'the folder of the four original .gz IDX files'),
    },
}


def fields_of(dataset):
  """{name: Field} of a config for `dataset`."""
  return {**COMMON_FIELDS, **(MIXTURE_FIELDS if dataset == 'mixture' else IMAGE_FIELDS),
          **DATASET_FIELDS.get(dataset, {})}


def fields_that_may_change(*kinds):
  """Names of the fields (of any dataset) whose on_resume is one of `kinds`."""
  tables = [COMMON_FIELDS, MIXTURE_FIELDS, IMAGE_FIELDS, *DATASET_FIELDS.values()]
  return tuple(sorted({name for table in tables for name, field in table.items()
                       if field.on_resume in kinds}))


def with_fields_added_since(config):
  """`config` (a saved run's) with each field added after it was made, at the
  value that the run had then (Field.before_it_existed)."""
  config = config.copy_and_resolve_references()
  flat = flatten(config)
  with config.unlocked():
    for name, field in fields_of(config.dataset).items():
      if name in flat or field.before_it_existed is NOT_ADDED:
        continue
      value = field.before_it_existed
      *groups, leaf = name.split('.')
      node = config
      for group in groups:
        if group not in node:
          node[group] = {}
        node = node[group]
      node[leaf] = value(config) if callable(value) else value
  return config


def flatten(config, prefix=''):
  """{'model.latent_dim': 2, ...}; tuples become lists, as a JSON round trip makes them."""
  flat = {}
  for key, value in config.items():
    if hasattr(value, 'items'):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = list(value) if isinstance(value, tuple) else value
  return flat


def check_config(config, *, device_count=None):
  """Raises mistakes.ConfigMistake naming the first problem of `config`, if any.

  device_count: the devices the batch is split over (None, before JAX has started:
  not checked).
  """
  try:
    _check_fields(config, device_count)
  except ValueError as error:  # the checks below raise ValueError; it is the user's to fix
    raise mistakes.ConfigMistake(str(error)) from None


def _check_fields(config, device_count):
  flat = flatten(config)
  dataset = COMMON_FIELDS['dataset']
  if not dataset.accepts(flat.get('dataset')):
    raise ValueError(f'config.dataset={flat.get("dataset")!r} is not allowed: expected '
                     f'{dataset.allowed}.')
  is_mixture = flat['dataset'] == 'mixture'
  fields = fields_of(flat['dataset'])
  for key in flat:
    if key not in fields:
      close = difflib.get_close_matches(key, fields, n=1)
      hint = f' Did you mean config.{close[0]}?' if close else ''
      raise ValueError(f'config.{key} is not a known field of a {flat["dataset"]} config.'
                       f'{hint} Known fields: {", ".join(sorted(fields))}.')
  for key, field in fields.items():
    if key not in flat:
      raise ValueError(f'config.{key} is missing: set it to {field.allowed}.')
    if not field.accepts(flat[key]):
      raise ValueError(f'config.{key}={flat[key]!r} is not allowed: expected '
                       f'{field.allowed}.')

  _check_method(config)
  if device_count and config.batch_size % device_count:
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
  if method == choices.BIGAN and encoder != choices.DETERMINISTIC_ENCODER:
    raise ValueError(f"config.method='bigan' learns a deterministic encoder, but "
                     f"config.model.encoder={encoder!r}: set it to 'deterministic' (or "
                     "use config.method='ali' for a stochastic one).")
  if method == choices.ALI and encoder == choices.DETERMINISTIC_ENCODER:
    raise ValueError("config.method='ali' learns a stochastic encoder, but "
                     "config.model.encoder='deterministic': use config.method='bigan', or "
                     f"set config.model.encoder to one of {choices.GAUSSIAN_ENCODER!r}, "
                     f"{choices.NOISE_INPUT_ENCODER!r} (mixture).")
  if method == choices.VAE:
    if config.dataset != 'mixture':
      raise ValueError("config.method='vae' is for the mixture only (the paper compares "
                       'a VAE there); pick another method for images.')
    if encoder != choices.GAUSSIAN_ENCODER:
      raise ValueError(f"config.method='vae' needs config.model.encoder='gaussian' (its KL "
                       f"term needs mu and sigma), not {encoder!r}.")
  bigbigan_architecture = bigbigan_architectures.is_bigbigan(config.model.architecture)
  if (method == choices.BIGBIGAN) != bigbigan_architecture:
    raise ValueError(
        f'config.method={method!r} with config.model.architecture='
        f'{config.model.architecture!r}: BigBiGAN\'s networks (a D of three scores) and '
        "config.method='bigbigan' go together: set both to BigBiGAN's (architecture one of "
        f'{tuple(bigbigan_architectures.ARCHITECTURES)}) or neither.')
  if method == choices.BIGBIGAN and (encoder, config.model.prior) != (
      choices.GAUSSIAN_ENCODER, choices.GAUSSIAN_PRIOR):
    raise ValueError("config.method='bigbigan' learns a Gaussian q(z|x) against a Gaussian "
                     "prior: set config.model.encoder='gaussian' and "
                     "config.model.prior='gaussian'.")
  if config.model.prior == choices.UNIFORM_PRIOR and encoder == choices.GAUSSIAN_ENCODER:
    raise ValueError("config.model.prior='uniform' has a bounded support that a Gaussian "
                     "q(z|x) does not keep to: set config.model.encoder='deterministic' "
                     "(BiGAN's encoder, squashed into (-1, 1)) or keep "
                     "config.model.prior='gaussian'.")
  if encoder != choices.GAUSSIAN_ENCODER and config.model.encoder_sigma != choices.EXP_SIGMA:
    raise ValueError(f'config.model.encoder_sigma={config.model.encoder_sigma!r} sets a '
                     f"gaussian encoder's sigma, but config.model.encoder={encoder!r} has "
                     "none: set config.model.encoder='gaussian', or leave encoder_sigma "
                     f'{choices.EXP_SIGMA!r}.')
  _check_labels(config)
  inference_steps = config.method_options.inference_steps
  if method in choices.TWO_PHASE_METHODS and not (
      0 < inference_steps < config.num_train_steps):
    raise ValueError(
        f'config.method={method!r} trains a GAN, then inference for the last '
        f'config.method_options.inference_steps steps; it is {inference_steps}, but must be '
        f'between 1 and config.num_train_steps - 1 = {config.num_train_steps - 1}.')
  if config.method_options.gan_workdir and method not in choices.TWO_PHASE_METHODS:
    raise ValueError(
        f'config.method_options.gan_workdir is set, but config.method={method!r} has no GAN '
        f'phase to take from it (only {", ".join(choices.TWO_PHASE_METHODS)} do): '
        "set it to ''.")


def _check_labels(config):
  """The labelled methods need a labelled image dataset and a class-balanced count."""
  method, num_labels = config.method, config.method_options.num_labels
  if method not in choices.LABELLED_METHODS:
    if num_labels:
      raise ValueError(
          f'config.method_options.num_labels={num_labels}, but config.method={method!r} '
          'learns from no labels: set it to 0, or use one of '
          f'{choices.LABELLED_METHODS}.')
    return
  spec = datasets.SPECS.get(config.dataset)
  if spec is None or not spec.num_classes:
    labelled = [name for name, s in datasets.SPECS.items() if s.num_classes]
    raise ValueError(f'config.method={method!r} learns from class labels, but '
                     f'config.dataset={config.dataset!r} has none: use one of {labelled}.')
  if config.model.condition_dim:
    raise ValueError(f'config.method={method!r} takes no conditions: set '
                     'config.model.condition_dim to 0.')
  if not num_labels or num_labels % spec.num_classes:
    raise ValueError(
        f'config.method={method!r} needs config.method_options.num_labels, a positive '
        f'multiple of the {spec.num_classes} classes of {config.dataset} (the same number '
        f'of each); it is {num_labels}.')


def _check_image_model(config):
  """The architecture must take the dataset's images and the config's latents."""
  tables = {**architectures.ARCHITECTURES, **bigbigan_architectures.ARCHITECTURES}
  shapes = {name: ((a.image_size, a.image_size, a.channels), a.latent_dim)
            for name, a in tables.items()}
  shapes[choices.BIGAN_MLP] = (None, None)  # MLPs: any image and latent size
  image_shape, latent_dim = shapes[config.model.architecture]
  data_shape = tuple(datasets.data_shape(config))
  if image_shape not in (None, data_shape):
    raise ValueError(
        f'config.model.architecture={config.model.architecture!r} takes '
        f'{"x".join(map(str, image_shape))} images, but config.dataset={config.dataset!r} '
        f'gives {"x".join(map(str, data_shape))}. Architectures for it: ' + ', '.join(
            name for name, (shape, _) in shapes.items() if shape in (None, data_shape)) + '.')
  if latent_dim is not None and config.model.latent_dim != latent_dim:
    raise ValueError(f'config.model.latent_dim={config.model.latent_dim} does not match '
                     f'the {config.model.architecture!r} architecture, whose encoder ends in '
                     f'2 x {latent_dim} channels: set it to {latent_dim}.')
  own_networks = {choices.BIGAN_MLP: "BiGAN's MLPs",
                  **{name: "BigBiGAN's networks" for name in bigbigan_architectures.ARCHITECTURES}}
  if config.model.architecture in own_networks:
    for field in ('condition_dim', 'dropout_rate'):
      if config.model[field]:
        raise ValueError(f'config.model.architecture={config.model.architecture!r} '
                         f'({own_networks[config.model.architecture]}) has no '
                         f'{field.split("_")[0]}: set config.model.{field} to 0.')
  if config.model.encoder == choices.NOISE_INPUT_ENCODER:
    raise ValueError("config.model.encoder='noise' is for the mixture's MLP; image models "
                     "take 'gaussian' (ALI) or 'deterministic' (BiGAN).")
  if config.model.condition_dim and config.dataset != 'celeba':
    raise ValueError(f'config.model.condition_dim={config.model.condition_dim}: only celeba '
                     'has attributes to condition on; set it to 0.')
  if config.model.condition_dim not in (0, datasets.CELEBA_ATTRIBUTES):
    raise ValueError(f'config.model.condition_dim={config.model.condition_dim}: CelebA has '
                     f'{datasets.CELEBA_ATTRIBUTES} attributes; set it to 0 or '
                     f'{datasets.CELEBA_ATTRIBUTES}.')
