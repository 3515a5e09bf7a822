"""What main.py checks before JAX starts: its flags, the config, its overrides, the workdir.

Each check raises a settings.mistakes.Mistake whose message names the problem
and its fix. Nothing here imports JAX, Flax or TensorFlow, so a mistake is
reported within about a second; the trainer makes the same checks again (and
those that need JAX: the batch against the device count, the dataset).
"""
import difflib
import importlib.util
import os
import re

from absl import flags

from ali_jax.config import fields
from ali_jax.config import validation
from ali_jax.runs import workdir as workdir_lib
from ali_jax.runs import workdir_lock
from ali_jax.settings import datasets
from ali_jax.settings import mistakes


def missing_config_file(path, configs_dir):
  """The mistake of a --config that is not a file, with the configs in `configs_dir`."""
  shipped = sorted(name for name in os.listdir(configs_dir)
                   if name.endswith('.py') and name not in ('__init__.py', 'common.py'))
  close = difflib.get_close_matches(os.path.basename(path), shipped, n=1)
  folder = os.path.relpath(configs_dir) + os.sep
  hint = (f' Did you mean {os.path.join(folder, close[0])}?' if close else
          f' The configs in {folder}: {", ".join(shipped)}.')
  return mistakes.ConfigMistake(f'--config={path}: no such file.{hint}')


def unknown_override(argv, config):
  """The mistake of a --config.FIELD=VALUE whose FIELD `config` does not have."""
  flat = fields.flatten(config)
  groups = {name.rsplit('.', 1)[0] for name in flat if '.' in name}
  for argument in argv:
    match = re.match(r'--config\.([\w.]+)', argument)
    if match and match.group(1) not in flat and match.group(1) not in groups:
      field = match.group(1)
      close = difflib.get_close_matches(field, list(flat), n=1)
      hint = f' Did you mean --config.{close[0]}?' if close else ''
      return mistakes.ConfigMistake(f'--config.{field}: the config has no such field.{hint}')
  return None


def flag_value(argv, name):
  """The value of the last --name=VALUE in `argv`, or None."""
  values = [a.split('=', 1)[1] for a in argv if a.startswith(f'--{name}=')]
  return values[-1] if values else None


def load_config_file(path):
  """get_config() of the config file at `path`."""
  spec = importlib.util.spec_from_file_location('config_of_the_command', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def parse_mistake(argv, error, configs_dir):
  """The mistake that absl's failure `error` to parse `argv` tells its user."""
  config_path = flag_value(argv, 'config')
  if config_path and not os.path.isfile(config_path):
    return missing_config_file(config_path, configs_dir)
  if isinstance(error, flags.UnrecognizedFlagError):
    return mistakes.ConfigMistake(f'{error}; python main.py --helpfull lists the flags.')
  message = str(error)
  if 'Flag --config must have a value other than None' in message:
    return mistakes.ConfigMistake(f'{config_path}: get_config() returned None; it must '
                                  'return the config (an ml_collections.ConfigDict).')
  if 'Error whilst parsing config file' in message:  # get_config's own error, traceback quoted
    return mistakes.ConfigMistake(f'{config_path}: {message.strip().splitlines()[-1]}')
  if isinstance(error, flags.Error):
    return mistakes.ConfigMistake(message)
  if isinstance(error, (AttributeError, KeyError)) and config_path:  # no such field
    try:
      unknown = unknown_override(argv, load_config_file(config_path))
    except Exception:  # pylint: disable=broad-except  (the file's own error, told below)
      unknown = None
    if unknown:
      return unknown
  cause = error.__cause__ or error  # ml_collections wraps a config file's own error
  return mistakes.ConfigMistake(f'{config_path}: {type(cause).__name__}: {cause}')


def check_run(config, workdir, *, single_process=True):
  """Raises a Mistake if `config` is invalid or `workdir` cannot hold its run; writes
  nothing.

  single_process: False for one process of a multi-process job, which leaves the
  question of a busy workdir to process 0's lock (its processes start together).
  """
  validation.check_config(config)
  datasets.check_prepared(config)
  if not workdir:
    raise mistakes.ConfigMistake('--workdir is empty: give the folder of the run.')
  if workdir_lib.is_bucket(workdir):
    return  # its lock and saved config are read once the run starts
  folder = workdir_lib.path(workdir)
  if not folder.is_dir():
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
      raise mistakes.ConfigMistake(
          f'--workdir={workdir}: {existing} is a file; give a folder (new, or a run to '
          'continue).')
    return  # a new run
  workdir_lib.check_can_hold(config, workdir)
  holder = single_process and workdir_lock.file_lock_holder(
      str(folder / workdir_lock.LOCK_FILE))
  if holder:
    raise workdir_lock.busy(workdir, holder)
