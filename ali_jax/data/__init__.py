"""Datasets. They know nothing of networks or devices."""
from ali_jax.data import mixture

DATA_SHAPES = {'mixture': mixture.MixtureData.data_shape}
DATASETS = tuple(DATA_SHAPES)


def data_shape(config):
  """The shape of one data point of `config.dataset`, without loading it."""
  if config.dataset not in DATA_SHAPES:
    raise ValueError(f'config.dataset={config.dataset!r} is not known; expected '
                     f'one of {DATASETS}.')
  return DATA_SHAPES[config.dataset]


def load(config):
  """The dataset that `config.dataset` names."""
  data_shape(config)  # names the problem if the dataset is unknown
  return mixture.MixtureData(seed=config.seed, num_train=config.data.num_train,
                             num_heldout=config.data.num_heldout)
