"""Datasets. They know nothing of networks or devices.

Every dataset gives `batches(start_step, global_batch_size=..., process_index=...,
process_count=...)`, an iterator over this process's share of each global
batch ({'x': ..., and 'y' for conditional models}), `heldout(split)`, the
HeldOut set of the validation or the test split (ali_jax/settings/datasets.py says
what each is for), and its `data_shape`.
"""
import contextlib
import io
import time

from absl import logging
import numpy as np

from ali_jax.data import heldout as heldout_lib
from ali_jax.data import images
from ali_jax.data import mixture
from ali_jax.settings import datasets
from ali_jax.settings import mistakes
from ali_jax.settings import run_settings

HeldOut = heldout_lib.HeldOut


def _prepare_offline_dataset(settings):
  """Prepares the datasets that need no network (digits, fashion_mnist) on first use."""
  data_dir = settings.data_dir
  if settings.dataset == 'digits':  # shipped with scikit-learn
    from ali_jax.data import digits_builder  # pylint: disable=g-import-not-at-top
    builder = digits_builder.SklearnDigits(data_dir=data_dir)
    if not builder.is_prepared():
      _prepare(builder.name, data_dir, lambda: builder.download_and_prepare(
          file_format='array_record'), builder.is_prepared)
  elif settings.dataset == 'fashion_mnist':  # from the original IDX files
    from ali_jax.data import fashion_mnist_builder  # pylint: disable=g-import-not-at-top
    builder = fashion_mnist_builder.LocalFashionMnist(source_dir=settings.manual_dir,
                                                      data_dir=data_dir)
    if builder.is_prepared():
      return
    try:
      _prepare(builder.name, data_dir, lambda: fashion_mnist_builder.prepare(builder),
               builder.is_prepared)
    except fashion_mnist_builder.SourceFileError as error:
      raise mistakes.DatasetNotPrepared(f'config.dataset=fashion_mnist: {error}') from None


def _prepare(name, data_dir, prepare, is_prepared):
  """Runs `prepare`, saying what it does and how long it took. TFDS's own line ("Downloading
  and preparing dataset") is dropped: nothing is downloaded here.

  TFDS writes into a temporary folder and renames it; when another process preparing the
  same data_dir (a second run started beside this one, a pod's hosts on one disk) renamed
  its copy first, the rename fails with FileExistsError and theirs is used."""
  logging.info('Preparing the %s dataset in %s from files on this machine (first use only).',
               name, data_dir)
  started = time.time()
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      prepare()
  except FileExistsError:
    if not is_prepared():
      raise
    logging.info('Another process prepared %s in %s first; using theirs.', name, data_dir)
    return
  logging.info('Prepared %s in %.0f s.', name, time.time() - started)


def _tfds_source(settings, split):
  """A random-access source of one split, or mistakes.DatasetNotPrepared saying what to run.

  It never downloads (download=False): a missing dataset is reported at once
  instead of tfds trying (and retrying) to fetch it.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  spec = datasets.SPECS[settings.dataset]
  _prepare_offline_dataset(settings)
  try:
    return tfds.data_source(spec.tfds_name, split=split, data_dir=settings.data_dir,
                            download=False)
  except Exception as error:  # pylint: disable=broad-except  (tfds raises several kinds)
    raise datasets.not_prepared(settings.dataset, settings.data_dir,
                                f'{type(error).__name__}: '
                                f'{str(error).splitlines()[0][:160]}') from None


def labelled_chunks(config, split, chunk_size, *, limit=0):
  """(images, labels) of a TFDS `split` of the dataset, `chunk_size` examples at a
  time (float32 [0, 1] NHWC, int64); `limit` > 0 stops after that many examples.
  config: the run's config or its DataSettings."""
  settings = run_settings.DataSettings.from_config(config)
  spec = datasets.SPECS[settings.dataset]
  source = _tfds_source(settings, split)
  count = min(limit, len(source)) if limit else len(source)
  for start in range(0, count, chunk_size):
    examples = [source[i] for i in range(start, min(start + chunk_size, count))]
    yield (np.stack([images.to_unit_images(e['image'], spec) for e in examples]),
           np.array([int(e['label']) for e in examples], np.int64))


def labelled_split(config, split):
  """(images, labels) of a TFDS `split` of the dataset: float32 [0, 1] NHWC, int64.

  For the semi-supervised evaluations; `split` is TFDS split syntax
  ('train[:1200]').
  """
  chunks = list(labelled_chunks(config, split, 4096))
  return (np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks]))


def load_dataset(config):
  """The dataset that config.dataset names. config: the run's config (checked by
  config/validation.py), or its DataSettings (settings/run_settings.py)."""
  settings = run_settings.DataSettings.from_config(config)
  if settings.dataset == datasets.MIXTURE:
    return mixture.MixtureData(seed=settings.seed, num_train=settings.num_train,
                               num_heldout=settings.num_heldout)
  if settings.source == 'fake':
    return images.FakeImageData(settings)
  source = lambda part: _tfds_source(settings, settings.splits[part])
  return images.ImageData(
      settings, train_source=source('train'),
      heldout_sources={split: source(split) for split in datasets.HELDOUT_SPLITS},
      labels_source=(source('labels') if settings.splits['labels'] != settings.splits['train']
                     else None))
