"""Trains ALI/BiGAN: python main.py --config=configs/mixture.py --workdir=DIR.

This file is intentionally kept short: the work is done in the ali_jax
library, which can be tested and imported in a notebook.

A mistake in the command (a config file, a field or value, the workdir) is
told in one message naming the problem and the fix, with exit status 2, before
JAX starts; --debug shows the traceback instead. docs/errors.md lists them.

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
from ml_collections import config_flags

from ali_jax.runs import preflight
from ali_jax.settings import mistakes

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
flags.DEFINE_bool('debug', False, 'Show the traceback of a mistake in the command.')
flags.DEFINE_bool('check_only', False, 'Check the command (config, overrides, workdir, data '
                  'folder) and stop before JAX starts.')
flags.mark_flags_as_required(['config', 'workdir'])

CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'configs')


def _stop(mistake, debug):
  """Ends the process on a mistake in the command: its message, or with --debug its
  traceback."""
  if debug:
    raise mistake
  print(f'error: {mistake}', file=sys.stderr)
  sys.exit(mistakes.EXIT_STATUS)


def parse_flags(argv):
  """absl's flag parsing, with each mistake told in one message."""
  try:
    remaining = FLAGS(argv)
    FLAGS.config.keys()  # a config file that failed to load raises here
    return remaining
  except Exception as error:  # pylint: disable=broad-except  (flags, a config file's own)
    _stop(preflight.parse_mistake(argv, error, CONFIGS_DIR),
          debug='--debug' in argv or preflight.flag_value(argv, 'debug') in ('true', 'True', '1'))


def _quiet_orbax(record):
  """Keeps orbax's per-save INFO lines out of the console; warnings still show."""
  return record.levelno > python_logging.INFO or '/orbax/' not in record.pathname


def _train(command):
  # pylint: disable=g-import-not-at-top  JAX starts here, once the command is known to be right.
  from ali_jax.hosts import xla_flags
  logging.info('XLA_FLAGS=%s', xla_flags.set_flags())  # before JAX starts a backend
  # Its INFO lines list the backends this machine lacks ("Failed to open libtpu.so").
  python_logging.getLogger('jax._src.xla_bridge').setLevel(python_logging.WARNING)
  import jax
  from ali_jax.runs import checkpoints
  from ali_jax.training import trainer
  if FLAGS.distributed or FLAGS.coordinator_address:
    jax.distributed.initialize(coordinator_address=FLAGS.coordinator_address,
                               num_processes=FLAGS.num_processes,
                               process_id=FLAGS.process_id)
  logging.info('JAX process %d of %d, local devices: %s', jax.process_index(),
               jax.process_count(), jax.local_devices())
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)  # one host reports progress
  try:
    trainer.train_and_evaluate(FLAGS.config, FLAGS.workdir, command=command)
  except checkpoints.CheckpointWriteFailed as error:
    logging.error('%s', error)
    # orbax's writer threads, stuck in their retries, would keep the process
    # alive; what they were writing was never committed, so nothing is lost.
    os._exit(1)  # pylint: disable=protected-access


def main(argv):
  try:
    if len(argv) > 1:
      raise mistakes.ConfigMistake(f'Unexpected arguments: {argv[1:]}; flags take the form '
                                   '--name=value.')
    manual = (FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
    if any(v is not None for v in manual) and any(v is None for v in manual):
      raise mistakes.ConfigMistake('A manual launch needs all of --coordinator_address, '
                                   '--num_processes and --process_id.')
    preflight.check_run(FLAGS.config, FLAGS.workdir,
                        single_process=not (FLAGS.distributed or FLAGS.coordinator_address))
    if FLAGS.check_only:
      print(f'The command is right: {FLAGS.config.method} on {FLAGS.config.dataset}, '
            f'{FLAGS.config.num_train_steps:,} steps, in {FLAGS.workdir}.')
      return
    logging.get_absl_handler().python_handler.addFilter(_quiet_orbax)
    _train(command='python ' + ' '.join(sys.argv))
  except mistakes.Mistake as mistake:  # also those found once JAX runs (the dataset...)
    _stop(mistake, FLAGS.debug)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
