"""A run's directory, on local disk or in a bucket: every path, read and write of a run.

A workdir is a local path or a gs:// URL (etils.epath paths, so both take the
same code). It holds:
  config.json            the run's config; only a compatible config continues it
  eval.json, images/     the latest evaluation and its figures
  events.out.tfevents.*  TensorBoard summaries
  checkpoints/           orbax checkpoints (checkpoints.py writes them)
  corrupt_checkpoints/   checkpoints that did not restore, kept for inspection
  .lock                  one run at a time (workdir_lock.py: FileLock, BucketLock)

Small files are written whole: on disk through a temporary file and a rename;
in a bucket, which has no rename and no append, as one upload, which appears
whole or not at all.
"""
import json
import os
import time

from etils import epath
import fsspec
import ml_collections

from ali_jax.config import fields
from ali_jax.runs import workdir_lock
from ali_jax.settings import choices
from ali_jax.settings import mistakes

# Fields that may change when a run resumes (declared in config/fields.py).
REPORTING_FIELDS = fields.fields_that_may_change(fields.REPORTING)
RESUMABLE_FIELDS = fields.fields_that_may_change(fields.REPORTING,
                                                            fields.MAY_CHANGE)
CONFIG_FILE = 'config.json'
EVAL_FILE = 'eval.json'  # the final evaluation, on config.data.final_split
VALIDATION_EVAL_FILE = 'eval_validation.json'  # the latest one during training
EVAL_HISTORY_FILE = 'eval_history.json'  # every evaluation, for learning curves
RECORD_FILE = 'record.json'  # what made the run: provenance.run_record
IMAGE_DIR = 'images'
CHECKPOINT_DIR = 'checkpoints'
CORRUPT_DIR = 'corrupt_checkpoints'
URL_SCHEMES = ('gs://',)
# Other hosts, and orbax through tensorstore, change a bucket's listings
# behind gcsfs's back: it must list afresh every time rather than cache.
fsspec.config.conf.setdefault('gcs', {})['use_listings_cache'] = False


def is_bucket(workdir):
  return str(workdir).startswith(URL_SCHEMES)


def path(workdir):
  """The workdir as an epath.Path: absolute on disk, as given for a bucket."""
  workdir = str(workdir)
  if '://' in workdir and not is_bucket(workdir):
    raise mistakes.ConfigMistake(
        f'--workdir={workdir}: of URLs only {", ".join(URL_SCHEMES)} are supported; use a '
        'bucket or a path on a disk that every host sees.')
  return epath.Path(workdir if is_bucket(workdir) else os.path.abspath(workdir))


def checkpoint_dir(workdir):
  return path(workdir) / CHECKPOINT_DIR


def lock(workdir, *, stale_after_s):
  """The lock that keeps a second run out of `workdir` (a context manager)."""
  if is_bucket(workdir):
    return workdir_lock.BucketLock(str(path(workdir) / workdir_lock.LOCK_FILE),
                                   stale_after_s=stale_after_s)
  return workdir_lock.FileLock(str(path(workdir) / workdir_lock.LOCK_FILE))


# ---- Whole files --------------------------------------------------------------------

def write_bytes(file, data):
  """Writes `data` to `file` so that no reader ever sees half of it."""
  file = epath.Path(file)
  file.parent.mkdir(parents=True, exist_ok=True)
  if is_bucket(file):
    file.write_bytes(data)  # one upload: the object appears whole or not at all
    return
  temporary = file.with_name(file.name + '.tmp')
  temporary.write_bytes(data)
  os.replace(temporary, file)


def write_text(file, text):
  write_bytes(file, text.encode('utf-8'))


def save_eval(workdir, metrics, file=EVAL_FILE):
  """Writes `metrics` to EVAL_FILE (the final evaluation) or VALIDATION_EVAL_FILE."""
  write_text(path(workdir) / file, json.dumps(metrics, indent=2, sort_keys=True))


def load_eval_history(workdir):
  """[{'split': ..., 'step': ..., metrics...}, ...] of every evaluation of the run, by step
  ([] before the first, or if the file cannot be read)."""
  file = path(workdir) / EVAL_HISTORY_FILE
  try:
    return json.loads(file.read_text()) if file.exists() else []
  except json.JSONDecodeError:
    return []


def add_to_eval_history(workdir, metrics, split):
  """Adds an evaluation of `split` to EVAL_HISTORY_FILE, replacing one of the same split
  and step (a finished run evaluated again)."""
  entry = {'split': split, **metrics}
  history = [e for e in load_eval_history(workdir)
             if (e.get('split'), e.get('step')) != (split, metrics['step'])] + [entry]
  history.sort(key=lambda e: (e['step'], e['split']))
  write_text(path(workdir) / EVAL_HISTORY_FILE, json.dumps(history, indent=1, sort_keys=True))


def load_record(workdir):
  """The run's record.json (provenance.run_record), or None before its first session
  ended (or if it cannot be read: a new one starts then)."""
  file = path(workdir) / RECORD_FILE
  try:
    return json.loads(file.read_text()) if file.exists() else None
  except json.JSONDecodeError:
    return None


def save_record(workdir, record):
  write_text(path(workdir) / RECORD_FILE, json.dumps(record, indent=1))


def save_figures(workdir, figures):
  """figures: {file name: PNG bytes}, written to images/."""
  for name, png in figures.items():
    write_bytes(path(workdir) / IMAGE_DIR / name, png)


# ---- The config ---------------------------------------------------------------------

def save_config(workdir, config):
  write_text(path(workdir) / CONFIG_FILE, config.to_json_best_effort(indent=2, sort_keys=True))


def has_config(workdir):
  return (path(workdir) / CONFIG_FILE).exists()


def load_config(workdir):
  """The config saved in `workdir` by main.py, or an error saying what `workdir` is not.

  Fields added since the run was made read as the values that it had then.
  """
  file = path(workdir) / CONFIG_FILE
  if not is_bucket(workdir) and not path(workdir).is_dir():
    raise FileNotFoundError(f'No such directory: {workdir}. Pass the --workdir of a '
                            'main.py run.')
  if not file.exists():
    raise FileNotFoundError(f'{workdir} is not an ali_jax workdir: it has no {CONFIG_FILE}. '
                            'Pass the --workdir of a main.py run.')
  try:
    saved = ml_collections.ConfigDict(json.loads(file.read_text()))
  except json.JSONDecodeError as error:
    raise ValueError(f'{file} is not valid JSON ({error}); it was damaged.') from None
  return fields.with_fields_added_since(saved)


def differences(saved_config, config, may_differ):
  """'config.x: 1 in the workdir, 2 now; ...' over the fields outside `may_differ`."""
  saved, new = fields.flatten(saved_config), fields.flatten(config)
  changed = sorted(key for key in saved.keys() | new.keys()
                   if key not in may_differ and saved.get(key) != new.get(key))
  return '; '.join(f'config.{k}: {saved.get(k, "(absent)")!r} in the workdir, '
                   f'{new.get(k, "(absent)")!r} now' for k in changed)


def check_compatible(saved_config, config, workdir):
  """Raises mistakes.ConfigMistake if `config` cannot continue the run saved with
  `saved_config`."""
  details = differences(saved_config, config, RESUMABLE_FIELDS)
  if details:
    raise mistakes.ConfigMistake(
        f'{workdir} holds a run with a different config ({details}). Its checkpoints '
        'cannot continue under this config: use a new --workdir, or set these fields '
        'back. Only these may change on resume: ' + ', '.join(RESUMABLE_FIELDS) + '.')


def check_can_hold(config, workdir):
  """Raises mistakes.ConfigMistake unless `workdir` is new, or holds a run that `config`
  continues."""
  if has_config(workdir):
    try:
      saved = load_config(workdir)
    except ValueError as error:  # not JSON: damaged
      raise mistakes.ConfigMistake(f'{error} Move it aside or use a new --workdir.') from None
    check_compatible(saved, config, workdir)
  elif has_checkpoints(workdir):
    raise mistakes.ConfigMistake(
        f'{workdir} has checkpoints but no {CONFIG_FILE}: it was not written by ali_jax, '
        'or was damaged. Use a new --workdir.')


def check_gan_phase_source(gan_workdir, config, phase_end):
  """Raises unless `gan_workdir` holds a run that trained exactly the GAN phase of
  `config` (a two-phase method's, config.method_options.gan_workdir): method 'gan', the
  same settings, `phase_end` steps.

  Everything but the method, its options, the length and how the run reports
  must match (the formulation and dtype too: they change float32 rounding), so
  the gan run's state at `phase_end` is what `config` would reach itself.
  """
  try:
    gan_config = load_config(gan_workdir)
  except FileNotFoundError as error:
    raise FileNotFoundError(f'config.method_options.gan_workdir: {error}') from None
  problems = []
  if gan_config.method != choices.GAN:
    problems.append(f"config.method: {gan_config.method!r} there, must be 'gan'")
  if gan_config.num_train_steps != phase_end:
    problems.append(f'config.num_train_steps: {gan_config.num_train_steps} there, must be '
                    f'{phase_end} (this run\'s GAN phase: num_train_steps - '
                    'method_options.inference_steps)')
  details = differences(
      gan_config, config,
      REPORTING_FIELDS + ('num_train_steps', 'method') + tuple(
          name for name in fields.COMMON_FIELDS
          if name.startswith('method_options.')))
  if details:
    problems.append(details)
  if problems:
    raise ValueError(
        f'config.method_options.gan_workdir={gan_workdir} cannot be this run\'s GAN phase: '
        + '; '.join(problems) + ". Train that gan run with this run's settings, or set "
        "config.method_options.gan_workdir='' to train the GAN phase here.")


# ---- Checkpoint folders ---------------------------------------------------------------

def has_checkpoints(workdir):
  directory = checkpoint_dir(workdir)
  return directory.is_dir() and any(directory.iterdir())


def move_checkpoint_aside(workdir, step):
  """Moves checkpoints/<step> to corrupt_checkpoints/<step>-<time>; returns where.

  On disk one rename. A bucket has no rename: each object is copied, then the
  originals are deleted, orbax's commit marker first, so that an interrupted
  move leaves at worst an unfinished checkpoint, which orbax ignores.
  """
  source = checkpoint_dir(workdir) / str(step)
  destination = path(workdir) / CORRUPT_DIR / f'{step}-{int(time.time())}'
  if not is_bucket(workdir):
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, destination)
    return destination
  files = _files_under(source)
  for file in files:
    file.copy(destination / file.relative_to(source))
  for file in sorted(files, key=lambda f: f.name != 'commit_success.txt'):
    file.unlink()
  return destination


def _files_under(directory):
  """Every file below `directory` (gcsfs refuses rglob's '**' in buckets)."""
  files = []
  for entry in directory.iterdir():
    files.extend(_files_under(entry) if entry.is_dir() else [entry])
  return sorted(files)
