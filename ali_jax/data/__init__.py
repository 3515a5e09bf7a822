"""Datasets. They know nothing of networks or devices.

Every dataset gives `batches(start_step, global_batch_size=..., process_index=...,
process_count=...)`, an iterator over this process's share of each global
batch ({'x': ..., and 'y' for conditional models}), a held-out set `heldout`
(with `heldout_conditions`) and its `data_shape`.
"""
from ali_jax.data import images
from ali_jax.data import mixture

IMAGE_DATASETS = tuple(images.SPECS)
DATASETS = ('mixture',) + IMAGE_DATASETS
DATA_SOURCES = ('tfds', 'fake')


def data_shape(config):
  """The shape of one data point of `config.dataset`, without loading it."""
  if config.dataset == 'mixture':
    return mixture.MixtureData.data_shape
  if config.dataset in images.SPECS:
    spec = images.SPECS[config.dataset]
    return (spec.image_size, spec.image_size, spec.channels)
  raise ValueError(f'config.dataset={config.dataset!r} is not known; expected one of '
                   f'{DATASETS}.')


def _open_tfds(config):
  """The training and held-out ArrayRecord sources, or an error that says what to run."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  spec = images.SPECS[config.dataset]
  data_dir = images.default_data_dir(config)
  if config.dataset == 'digits':  # shipped with scikit-learn: prepare it on first use
    from ali_jax.data import digits_builder  # pylint: disable=g-import-not-at-top
    builder = digits_builder.SklearnDigits(data_dir=data_dir)
    if not builder.is_prepared():
      builder.download_and_prepare(file_format='array_record')
  try:
    return (tfds.data_source(spec.tfds_name, split=spec.train_split, data_dir=data_dir),
            tfds.data_source(spec.tfds_name, split=spec.heldout_split, data_dir=data_dir))
  except Exception as error:  # pylint: disable=broad-except  (tfds raises several kinds)
    raise FileNotFoundError(
        f'The TFDS dataset {spec.tfds_name} is not prepared (as ArrayRecord) in {data_dir}: '
        f'{type(error).__name__}: {str(error)[:200]}\nTo prepare it:\n  '
        + spec.how_to_prepare.format(name=spec.tfds_name, data_dir=data_dir)
        + '\nor point --config.data.data_dir at a folder where it is prepared, or run a '
        'throughput benchmark on random images with --config.data_source=fake.') from None


def load(config):
  """The dataset that `config.dataset` names."""
  shape = data_shape(config)  # names the problem if the dataset is unknown
  if config.dataset == 'mixture':
    return mixture.MixtureData(seed=config.seed, num_train=config.data.num_train,
                               num_heldout=config.data.num_heldout)
  if config.data_source == 'fake':
    return images.FakeImageData(config, shape)
  train_source, heldout_source = _open_tfds(config)
  return images.ImageData(config, train_source=train_source, heldout_source=heldout_source)
