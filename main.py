"""Trains ALI/BiGAN: python main.py --config=configs/mixture.py --workdir=DIR.

This file is intentionally kept short: the work is done in the ali_jax
library, which can be tested and imported in a notebook.
"""
import logging as python_logging

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from ali_jax import train

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Where checkpoints, logs, eval.json and images go; '
                    'a run resumes from the latest checkpoint found here.')
config_flags.DEFINE_config_file('config', None, 'A configs/*.py file; override fields '
                                'with --config.FIELD=VALUE.', lock_config=True)
flags.mark_flags_as_required(['config', 'workdir'])


def _quiet_orbax(record):
  """Keeps orbax's per-save INFO lines out of the console; warnings still show."""
  return record.levelno > python_logging.INFO or '/orbax/' not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().python_handler.addFilter(_quiet_orbax)
  logging.info('JAX process %d of %d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  app.run(main)
