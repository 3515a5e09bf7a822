"""What each part of a run reads of its config, read once into typed, frozen objects.

A run's config (a ml_collections.ConfigDict) is checked by config/validation.py and then
read here, once; the parts below the run's entry (the data pipeline, ...) receive these
objects instead of the config, so what each part depends on is written down in one place.
Plain Python, like the rest of settings/.
"""
import dataclasses
from typing import Mapping, Optional, Tuple

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
