"""Guards on a workdir: one run at a time, and only with a config it can continue."""
import fcntl
import os

from ali_jax import config_validation
from ali_jax import objectives

# Fields that may change when a run resumes: they change how long it runs and
# what it reports, not what the saved state means. (A cosine learning rate
# schedule follows num_train_steps, so extending a run stretches its decay.)
REPORTING_FIELDS = ('log_every_steps', 'eval_every_steps', 'checkpoint_every_steps',
                    'max_checkpoints_to_keep', 'evaluation.')
RESUMABLE_FIELDS = REPORTING_FIELDS + ('num_train_steps', 'nonfinite',
                                       'model.conv_implementation', 'model.dtype',
                                       'method_options.gan_workdir')
LOCK_FILE = '.lock'


def _differences(saved_config, config, may_differ):
  """'config.x: 1 in the workdir, 2 now; ...' over the fields outside `may_differ`
  (field names, or 'group.' for every field of a group). A field added after the
  saved run was made counts as its value then (config_validation.ADDED_FIELDS)."""
  saved, new = config_validation.flatten(saved_config), config_validation.flatten(config)
  saved = {**{k: v for k, v in config_validation.ADDED_FIELDS.items() if k in new}, **saved}
  groups = tuple(name for name in may_differ if name.endswith('.'))
  changed = sorted(key for key in saved.keys() | new.keys()
                   if key not in may_differ and not key.startswith(groups)
                   and saved.get(key) != new.get(key))
  return '; '.join(f'config.{k}: {saved.get(k, "(absent)")!r} in the workdir, '
                   f'{new.get(k, "(absent)")!r} now' for k in changed)


def check_compatible(saved_config, config, workdir):
  """Raises ValueError if `config` cannot continue the run saved with `saved_config`."""
  details = _differences(saved_config, config, RESUMABLE_FIELDS)
  if details:
    raise ValueError(
        f'{workdir} holds a run with a different config ({details}). Its checkpoints '
        'cannot continue under this config: use a new --workdir, or set these fields '
        'back. Only these may change on resume: ' + ', '.join(RESUMABLE_FIELDS) + '.')


def check_gan_phase_source(gan_config, config, gan_workdir, phase_end):
  """Raises ValueError unless `gan_workdir` (saved with `gan_config`) trained exactly
  the GAN phase of `config`: method 'gan', the same settings, `phase_end` steps.

  Everything but the method, its options, the length and how the run reports
  must match (the formulation and dtype too: they change float32 rounding), so
  the gan run's state at `phase_end` is what `config` would reach itself.
  """
  problems = []
  if gan_config.get('method') != objectives.GAN:
    problems.append(f"config.method: {gan_config.get('method')!r} there, must be 'gan'")
  if gan_config.num_train_steps != phase_end:
    problems.append(f'config.num_train_steps: {gan_config.num_train_steps} there, must be '
                    f'{phase_end} (this run\'s GAN phase: num_train_steps - '
                    'method_options.inference_steps)')
  details = _differences(gan_config, config,
                         REPORTING_FIELDS + ('num_train_steps', 'method', 'method_options.'))
  if details:
    problems.append(details)
  if problems:
    raise ValueError(
        f'config.method_options.gan_workdir={gan_workdir} cannot be this run\'s GAN phase: '
        + '; '.join(problems) + ". Train that gan run with this run's settings, or set "
        "config.method_options.gan_workdir='' to train the GAN phase here.")


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
