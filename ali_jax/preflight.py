"""What main.py checks before JAX starts: the config, its overrides and the workdir.

Each check raises a settings.mistakes.Mistake whose message names the problem
and its fix. Nothing here imports JAX, Flax or TensorFlow, so a mistake is
reported within about a second; the trainer makes the same checks again (and
those that need JAX: the batch against the device count, the dataset).
"""
import difflib
import os
import re

from ali_jax import config_validation
from ali_jax import workdir as workdir_lib
from ali_jax import workdir_lock
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
  fields = config_validation.flatten(config)
  groups = {name.rsplit('.', 1)[0] for name in fields if '.' in name}
  for argument in argv:
    match = re.match(r'--config\.([\w.]+)', argument)
    if match and match.group(1) not in fields and match.group(1) not in groups:
      field = match.group(1)
      close = difflib.get_close_matches(field, list(fields), n=1)
      hint = f' Did you mean --config.{close[0]}?' if close else ''
      return mistakes.ConfigMistake(f'--config.{field}: the config has no such field.{hint}')
  return None


def check_run(config, workdir, *, single_process=True):
  """Raises a Mistake if `config` is invalid or `workdir` cannot hold its run; writes
  nothing.

  single_process: False for one process of a multi-process job, which leaves the
  question of a busy workdir to process 0's lock (its processes start together).
  """
  config_validation.check_config(config)
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
