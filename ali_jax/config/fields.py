"""Every config field, declared once: what it accepts, whether it may change
when a run resumes, and what runs made before it existed had.

Values of the fields themselves (the defaults) are the configs' (configs/,
choices.default_method_options()); validation.py checks a config against this table
and across fields.
"""
import math
import numbers
from typing import Any, Callable, NamedTuple

from ali_jax.settings import choices
from ali_jax.settings import datasets

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
    # D's regularisers (choices.default_regularisers); runs made before them had none.
    'regularisers.r1_gamma': Field(_non_negative_number, 'a finite number >= 0',
                                   before_it_existed=0.0),
    'regularisers.instance_noise_std': Field(_non_negative_number, 'a finite number >= 0',
                                             before_it_existed=0.0),
    'regularisers.instance_noise_anneal_steps': Field(
        _non_negative_integer, 'an integer >= 0 (0: a constant std)', before_it_existed=0),
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
    # Spectral normalisation of D's kernels; BigBiGAN's D always had it.
    'model.discriminator_spectral_norm': Field(
        lambda v: isinstance(v, bool), 'True or False',
        before_it_existed=lambda config: choices.default_discriminator_spectral_norm(
            config.model.architecture)),
    # D's unary scores s_x, s_z beside its joint score (BigBiGAN's, with ALI's loss).
    'model.discriminator_unary_scores': Field(lambda v: isinstance(v, bool), 'True or False',
                                              before_it_existed=False),
}


MIXTURE_FIELDS = {
    'data.num_train': Field(_positive_integer, 'a positive integer'),
    'model.architecture': _one_of((choices.MIXTURE_MLP,)),
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
    'model.architecture': _one_of(choices.IMAGE_ARCHITECTURES),
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
