"""What each part of a run reads of its config, read once into typed, frozen objects.

A run's config (a ml_collections.ConfigDict) is checked by config/validation.py and then
read here, once, into a RunSettings; the parts below the run's entry receive it or the
part of it they need (the data pipeline DataSettings, the networks ModelSettings, ...)
instead of the config, so what each part depends on is written down in one place. The
config itself goes on only to workdir I/O (config.json, record.json, a workdir's checks).
Plain Python, like the rest of settings/.
"""
import dataclasses
from typing import Any, Mapping, Optional, Tuple

from ali_jax.settings import choices
from ali_jax.settings import datasets


@dataclasses.dataclass(frozen=True)
class DataSettings:
  """What the data pipeline (ali_jax/data/) reads of a config.

  dataset: config.dataset; source: config.data_source ('tfds' or 'fake').
  data_dir: where TFDS datasets are prepared (config.data.data_dir or its default; images).
  manual_dir: where Fashion-MNIST's original files are (config.data.manual_dir).
  seed: the run's seed (the order of the training examples, fake images, labels' batches).
  shape: one data point's shape. condition_dim: the size of y (0: unconditional).
  num_train: the mixture's training points; num_heldout: each held-out split's size.
  num_labels, labels_seed: the labelled methods' class-balanced subset (0: none).
  splits: {'train', 'validation', 'test', 'labels'} -> TFDS split (images only).
  """
  dataset: str
  source: str
  data_dir: str
  manual_dir: Optional[str]
  seed: int
  shape: Tuple[int, ...]
  condition_dim: int
  num_train: int
  num_heldout: int
  num_labels: int
  labels_seed: int
  splits: Mapping[str, str]

  @classmethod
  def from_config(cls, config):
    """DataSettings of `config`; a DataSettings is returned as it is."""
    if isinstance(config, cls):
      return config
    images = config.dataset in datasets.SPECS
    options = config.get('method_options', {})
    return cls(
        dataset=config.dataset,
        source=config.get('data_source', 'tfds'),
        data_dir=datasets.default_data_dir(config) if images else '',
        manual_dir=config.data.get('manual_dir'),
        seed=config.seed,
        shape=tuple(datasets.data_shape(config)),
        condition_dim=config.model.get('condition_dim', 0) if images else 0,
        num_train=config.data.get('num_train', 0),
        num_heldout=config.data.num_heldout,
        num_labels=options.get('num_labels', 0),
        labels_seed=options.get('labels_seed', 0),
        splits=(dict(datasets.SPECS[config.dataset].splits(config.data.carve_validation))
                if images else {}))


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  """What the networks (ali_jax/models/) read of config.model.

  Every family reads the first group; the mixture MLPs the *_hidden widths and
  maxout_pieces; the image networks the conditioning and conv fields (their defaults
  here are what the other family's config does not set).
  """
  architecture: str
  encoder: str
  encoder_sigma: str
  latent_dim: int
  prior: str
  init_std: float
  dropout_rate: float
  dtype: str
  remat: str
  discriminator_batches: str
  discriminator_spectral_norm: bool = False
  discriminator_unary_scores: bool = False
  encoder_hidden: Tuple[int, ...] = ()
  generator_hidden: Tuple[int, ...] = ()
  discriminator_hidden: Tuple[int, ...] = ()
  maxout_pieces: int = 0
  condition_dim: int = 0
  condition_embedding: int = 0
  conv_implementation: str = 'auto'

  @classmethod
  def from_config(cls, config):
    m = config.model
    widths = lambda name: tuple(m.get(name, ()))
    return cls(
        architecture=m.architecture, encoder=m.encoder, encoder_sigma=m.encoder_sigma,
        latent_dim=m.latent_dim, prior=m.prior, init_std=m.init_std,
        dropout_rate=m.dropout_rate, dtype=m.dtype, remat=m.remat,
        discriminator_batches=m.discriminator_batches,
        discriminator_spectral_norm=m.discriminator_spectral_norm,
        discriminator_unary_scores=m.discriminator_unary_scores,
        encoder_hidden=widths('encoder_hidden'), generator_hidden=widths('generator_hidden'),
        discriminator_hidden=widths('discriminator_hidden'),
        maxout_pieces=m.get('maxout_pieces', 0), condition_dim=m.get('condition_dim', 0),
        condition_embedding=m.get('condition_embedding', 0),
        conv_implementation=m.get('conv_implementation', 'auto'))


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
  """config.optimizer: Adam's rate, betas and schedule (training/optimizers.py)."""
  learning_rate: float
  b1: float
  b2: float
  schedule: str
  decay_start_fraction: float
  final_learning_rate_scale: float
  weight_decay: float
  discriminator_learning_rate_scale: float

  @classmethod
  def from_config(cls, config):
    return cls(**{field.name: config.optimizer[field.name]
                  for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class RegulariserSettings:
  """config.regularisers: D's regularisers (choices.default_regularisers; 0: off)."""
  r1_gamma: float = 0.0
  instance_noise_std: float = 0.0
  instance_noise_anneal_steps: int = 0

  @classmethod
  def from_config(cls, config):
    return cls(**{**choices.default_regularisers(), **config.get('regularisers', {})})


@dataclasses.dataclass(frozen=True)
class EvaluationSettings:
  """What an evaluation reads (training/trainer.py evaluate, evaluation/evaluator.py).

  final_split: what eval.json reads (config.data.final_split); num_eval_samples: the
  samples drawn. class_metrics, reference_examples: the reference classifier's metrics
  and how many labelled training images it learns from (images; off for the mixture).
  standing_statistics_batches, standing_statistics_for: batch-norm statistics recomputed
  before each evaluation (training/standing_statistics.py; 0 batches: none).
  """
  final_split: str
  num_eval_samples: int
  class_metrics: bool
  reference_examples: int
  standing_statistics_batches: int
  standing_statistics_for: str

  @classmethod
  def from_config(cls, config):
    evaluation = config.get('evaluation', {})
    return cls(
        final_split=config.data.final_split, num_eval_samples=config.data.num_eval_samples,
        class_metrics=evaluation.get('class_metrics', False),
        reference_examples=evaluation.get('reference_examples', 0),
        standing_statistics_batches=evaluation.get('standing_statistics_batches', 0),
        standing_statistics_for=evaluation.get('standing_statistics_for', 'averaged'))


@dataclasses.dataclass(frozen=True)
class LoopSettings:
  """How the trainer's loop reports and stores (training/trainer.py): how often it logs,
  evaluates and saves, how many checkpoints it keeps, how long a write or a silent lock
  may last, and where a two-phase method's GAN phase comes from (gan_workdir; '')."""
  log_every_steps: int
  eval_every_steps: int
  checkpoint_every_steps: int
  max_checkpoints_to_keep: int
  checkpoint_write_timeout_s: float
  workdir_lock_stale_s: float
  gan_workdir: str

  @classmethod
  def from_config(cls, config):
    return cls(
        log_every_steps=config.log_every_steps, eval_every_steps=config.eval_every_steps,
        checkpoint_every_steps=config.checkpoint_every_steps,
        max_checkpoints_to_keep=config.max_checkpoints_to_keep,
        checkpoint_write_timeout_s=config.checkpoint_write_timeout_s,
        workdir_lock_stale_s=config.workdir_lock_stale_s,
        gan_workdir=config.method_options.get('gan_workdir', ''))


@dataclasses.dataclass(frozen=True)
class RunSettings:
  """Everything a run reads of its config, read once (training/run_setup.RunSetup).

  seed: every random draw's; dataset; method and method_options (its losses' weights,
  its phases' lengths: training/methods.py); batch_size: global, over all devices;
  num_train_steps; loss_form: G's and E's loss; nonfinite: 'stop' or 'skip' a
  non-finite update; averaged_networks and average_decay: the parameters kept as a
  moving average (none when the decay is 0).
  """
  seed: int
  dataset: str
  method: str
  method_options: Mapping[str, Any]
  batch_size: int
  num_train_steps: int
  loss_form: str
  nonfinite: str
  average_decay: float
  averaged_networks: Tuple[str, ...]
  data: DataSettings
  model: ModelSettings
  optimizer: OptimizerSettings
  regularisers: RegulariserSettings
  evaluation: EvaluationSettings
  loop: LoopSettings

  @classmethod
  def from_config(cls, config):
    """RunSettings of `config` (checked by config/validation.py); a RunSettings is
    returned as it is."""
    if isinstance(config, cls):
      return config
    average = config.parameter_average
    return cls(
        seed=config.seed, dataset=config.dataset, method=config.method,
        method_options=dict(config.method_options),
        batch_size=config.batch_size, num_train_steps=config.num_train_steps,
        loss_form=config.loss_form, nonfinite=config.nonfinite,
        average_decay=average.decay,
        averaged_networks=tuple(average.networks) if average.decay > 0 else (),
        data=DataSettings.from_config(config), model=ModelSettings.from_config(config),
        optimizer=OptimizerSettings.from_config(config),
        regularisers=RegulariserSettings.from_config(config),
        evaluation=EvaluationSettings.from_config(config),
        loop=LoopSettings.from_config(config))
