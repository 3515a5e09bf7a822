"""Guards on a workdir: one run at a time, and only with a config it can continue."""
import fcntl
import os

from ali_jax import config_validation

# Fields that may change when a run resumes: they change how long it runs and
# what it reports, not what the saved state means. (A cosine learning rate
# schedule follows num_train_steps, so extending a run stretches its decay.)
RESUMABLE_FIELDS = ('num_train_steps', 'log_every_steps', 'eval_every_steps',
                    'checkpoint_every_steps', 'max_checkpoints_to_keep', 'nonfinite',
                    'model.conv_implementation')
LOCK_FILE = '.lock'


def check_compatible(saved_config, config, workdir):
  """Raises ValueError if `config` cannot continue the run saved with `saved_config`."""
  saved, new = config_validation.flatten(saved_config), config_validation.flatten(config)
  changed = sorted(key for key in saved.keys() | new.keys()
                   if key not in RESUMABLE_FIELDS and saved.get(key) != new.get(key))
  if changed:
    details = '; '.join(f'config.{k}: {saved.get(k, "(absent)")!r} in the workdir, '
                        f'{new.get(k, "(absent)")!r} now' for k in changed)
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
