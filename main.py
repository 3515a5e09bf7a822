"""Trains ALI/BiGAN: python main.py --config=configs/mixture.py --workdir=DIR.

This file is intentionally kept short: the work is done in the ali_jax
library, which can be tested and imported in a notebook.

Several hosts (a TPU pod, a SLURM job): run the same command on every host
with --distributed; for a manual launch give --coordinator_address,
--num_processes and --process_id instead.
"""
import logging as python_logging
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from ali_jax import checkpoints
from ali_jax import data
from ali_jax import train
from ali_jax import xla_flags

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Where checkpoints, logs, eval.json and images go; '
                    'a run resumes from the latest checkpoint found here. With several '
                    'hosts it must be shared by all of them (a bucket or shared disk).')
config_flags.DEFINE_config_file('config', None, 'A configs/*.py file; override fields '
                                'with --config.FIELD=VALUE.', lock_config=True)
flags.DEFINE_bool('distributed', False, 'Initialise jax.distributed from the environment '
                  '(TPU pods and SLURM need nothing else).')
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0, for a manual '
                    'multi-process launch (with --num_processes and --process_id).')
flags.DEFINE_integer('num_processes', None, 'Number of processes of a manual launch.')
flags.DEFINE_integer('process_id', None, 'This process of a manual launch, 0-based.')
flags.mark_flags_as_required(['config', 'workdir'])


def _quiet_orbax(record):
  """Keeps orbax's per-save INFO lines out of the console; warnings still show."""
  return record.levelno > python_logging.INFO or '/orbax/' not in record.pathname


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().python_handler.addFilter(_quiet_orbax)
  logging.info('XLA_FLAGS=%s', xla_flags.set_flags())  # before JAX starts a backend
  manual = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  if any(v is not None for v in manual) and any(v is None for v in manual):
    raise app.UsageError('A manual launch needs all of --coordinator_address, '
                         '--num_processes and --process_id.')
  if FLAGS.distributed or FLAGS.coordinator_address:
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes,
                               process_id=FLAGS.process_id)
  logging.info('JAX process %d of %d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)  # one host reports progress
  try:
    train.train_and_evaluate(FLAGS.config, FLAGS.workdir,
                             command='python ' + ' '.join(sys.argv))
  except data.DatasetNotPrepared as error:  # the message says what to run: no traceback
    sys.exit(f'{error}')
  except checkpoints.CheckpointWriteFailed as error:
    logging.error('%s', error)
    # orbax's writer threads, stuck in their retries, would keep the process
    # alive; what they were writing was never committed, so nothing is lost.
    os._exit(1)  # pylint: disable=protected-access


if __name__ == '__main__':
  app.run(main)
