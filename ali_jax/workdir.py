"""A run's workdir: its config file, one run at a time, and only a config it can continue."""
import fcntl
import json
import os

import ml_collections

from ali_jax import config_validation

# Fields that may change when a run resumes (declared in config_validation).
REPORTING_FIELDS = config_validation.fields_that_may_change(config_validation.REPORTING)
RESUMABLE_FIELDS = config_validation.fields_that_may_change(config_validation.REPORTING,
                                                            config_validation.MAY_CHANGE)
LOCK_FILE = '.lock'
CONFIG_FILE = 'config.json'


def save_config(workdir, config):
  write_text_atomically(os.path.join(workdir, CONFIG_FILE),
                        config.to_json_best_effort(indent=2, sort_keys=True))


def load_config(workdir):
  """The config saved in `workdir` by main.py, or an error saying what `workdir` is not.

  Fields added since the run was made read as the values that it had then.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f'No such directory: {workdir}. Pass the --workdir of a '
                            'main.py run.')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{workdir} is not an ali_jax workdir: it has no {CONFIG_FILE}. '
                            'Pass the --workdir of a main.py run.')
  try:
    with open(path) as f:
      saved = ml_collections.ConfigDict(json.load(f))
  except json.JSONDecodeError as error:
    raise ValueError(f'{path} is not valid JSON ({error}); it was damaged.') from None
  return config_validation.with_fields_added_since(saved)


def differences(saved_config, config, may_differ):
  """'config.x: 1 in the workdir, 2 now; ...' over the fields outside `may_differ`."""
  saved, new = config_validation.flatten(saved_config), config_validation.flatten(config)
  changed = sorted(key for key in saved.keys() | new.keys()
                   if key not in may_differ and saved.get(key) != new.get(key))
  return '; '.join(f'config.{k}: {saved.get(k, "(absent)")!r} in the workdir, '
                   f'{new.get(k, "(absent)")!r} now' for k in changed)


def check_compatible(saved_config, config, workdir):
  """Raises ValueError if `config` cannot continue the run saved with `saved_config`."""
  details = differences(saved_config, config, RESUMABLE_FIELDS)
  if details:
    raise ValueError(
        f'{workdir} holds a run with a different config ({details}). Its checkpoints '
        'cannot continue under this config: use a new --workdir, or set these fields '
        'back. Only these may change on resume: ' + ', '.join(RESUMABLE_FIELDS) + '.')


def write_text_atomically(path, text):
  """Writes `text` to `path` through a temporary file and a rename: never half a file."""
  with open(path + '.tmp', 'w') as f:
    f.write(text)
  os.replace(path + '.tmp', path)


class WorkdirLock:
  """An exclusive lock on the workdir for the life of a run.

  The kernel drops the lock when its process dies, however it dies, so a
  killed run never leaves a stale lock behind.
  """

  def __init__(self, workdir):
    self._path = os.path.join(workdir, LOCK_FILE)
    self._file = None

  def __enter__(self):
    self._file = open(self._path, 'a+')  # pylint: disable=consider-using-with
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._file.seek(0)
      holder = self._file.read().strip() or 'unknown'
      self._file.close()
      raise RuntimeError(f'Another run (process {holder}) is using {os.path.dirname(self._path)}; '
                         'wait for it to finish or use another --workdir.') from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(str(os.getpid()))
    self._file.flush()
    return self

  def __exit__(self, *exc_info):
    fcntl.flock(self._file, fcntl.LOCK_UN)
    self._file.close()
