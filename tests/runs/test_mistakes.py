"""Each mistake a user makes on main.py's command line: one message naming it and the fix,
exit status 2, no traceback, and (but for what only the data shows) before JAX starts."""
import fcntl
import os
import subprocess
import sys
import time

import pytest

from ali_jax.runs import workdir as workdir_lib
from ali_jax.runs import workdir_lock
from ali_jax.settings import mistakes
from configs import mixture_tiny
from tests import helpers

REPO = helpers.REPO
MIXTURE = '--config=configs/mixture_tiny.py'


def run_main(*arguments):
  """(exit status, stderr) of main.py; prints its wall time (for the record, not asserted)."""
  started = time.monotonic()
  result = subprocess.run([sys.executable, 'main.py', *arguments], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
  print(f'{" ".join(arguments)}: {time.monotonic() - started:.2f} s')
  return result.returncode, result.stderr


def assert_told(arguments, *names):
  status, stderr = run_main(*arguments)
  assert status == mistakes.EXIT_STATUS, stderr
  assert 'Traceback' not in stderr
  message = [line for line in stderr.splitlines() if line.startswith('error: ')]
  assert len(message) == 1, stderr
  for name in names:
    assert name in stderr, (name, stderr)


@pytest.mark.parametrize('arguments, names', [
    (['--config.num_train_step=5'], ['--config.num_train_step', 'num_train_steps']),
    (['--config.model.encoder_hiden=(8,)'], ['encoder_hiden', '--config.model.encoder_hidden']),
    (['--config.model.no.such=3'], ['--config.model.no.such']),
    (['--config.batch_size=-3'], ['config.batch_size=-3', 'positive integer']),
    (['--config.batch_size=abc'], ['--config.batch_size=abc']),
    (['--config.method=alii'], ["config.method='alii'", "'ali'"]),
    (['--bogus=1'], ['bogus', '--helpfull']),
    (['surplus'], ['surplus']),
])
def test_a_bad_field_or_flag_is_named(tmp_path, arguments, names):
  assert_told([MIXTURE, f'--workdir={tmp_path / "run"}', *arguments], *names)
  assert not (tmp_path / 'run').exists()


def test_a_missing_config_file_names_the_nearest(tmp_path):
  assert_told(['--config=configs/mixtur.py', f'--workdir={tmp_path}'],
              'configs/mixtur.py', 'configs/mixture.py')


@pytest.mark.parametrize('text, names', [
    ('def get_config(:\n', ['SyntaxError']),
    ('x = 1\n', ['get_config']),
    ('def get_config():\n  return int("x")\n', ['ValueError', "'x'"]),
    ('def get_config():\n  return None\n', ['returned None']),
])
def test_a_config_file_that_fails_names_its_error(tmp_path, text, names):
  broken = tmp_path / 'broken.py'
  broken.write_text(text)
  assert_told([f'--config={broken}', f'--workdir={tmp_path / "run"}'], str(broken), *names)


@pytest.mark.parametrize('workdir', ['file', 'file/run'])
def test_a_workdir_that_is_or_lies_in_a_file(tmp_path, workdir):
  (tmp_path / 'file').write_text('mine')
  assert_told([MIXTURE, f'--workdir={tmp_path / workdir}'], f'{tmp_path / "file"} is a file')
  assert (tmp_path / 'file').read_text() == 'mine'


def test_an_empty_workdir_flag(tmp_path):
  assert_told([MIXTURE, '--workdir='], '--workdir is empty')


def test_a_busy_workdir_names_its_holder(tmp_path):
  with workdir_lock.FileLock(str(tmp_path / workdir_lock.LOCK_FILE)):
    assert_told([MIXTURE, f'--workdir={tmp_path}'], 'Another run', str(os.getpid()))


def test_the_busy_probe_writes_nothing_and_probes_do_not_refuse_each_other(tmp_path):
  lock_path = str(tmp_path / workdir_lock.LOCK_FILE)
  assert workdir_lock.file_lock_holder(lock_path) is None
  assert not os.path.exists(lock_path)  # no lock file made
  with open(lock_path, 'w') as lock_file:
    lock_file.write('12345')
  with open(lock_path) as other:  # another process's probe, holding its shared lock
    fcntl.flock(other, fcntl.LOCK_SH)
    assert workdir_lock.file_lock_holder(lock_path) is None
  with workdir_lock.FileLock(lock_path):
    assert workdir_lock.file_lock_holder(lock_path) == f'process {os.getpid()}'
  status, stderr = run_main(MIXTURE, f'--workdir={tmp_path}', '--check_only')
  assert status == 0, stderr
  assert sorted(os.listdir(tmp_path)) == [workdir_lock.LOCK_FILE]


def test_a_damaged_saved_config(tmp_path):
  (tmp_path / workdir_lib.CONFIG_FILE).write_text('{"seed": ')
  assert_told([MIXTURE, f'--workdir={tmp_path}'], 'not valid JSON', 'new --workdir')
  assert (tmp_path / workdir_lib.CONFIG_FILE).read_text() == '{"seed": '


def test_an_incompatible_resume_names_the_fields(tmp_path):
  saved = mixture_tiny.get_config()
  saved.seed = 7
  workdir_lib.save_config(str(tmp_path), saved)
  assert_told([MIXTURE, f'--workdir={tmp_path}'], 'config.seed: 7 in the workdir, 0 now')
  assert workdir_lib.load_config(str(tmp_path)).seed == 7


def test_a_missing_dataset_says_how_to_prepare_it(tmp_path):
  assert_told(['--config=configs/celeba.py', f'--workdir={tmp_path / "run"}',
               f'--config.data.data_dir={tmp_path / "data"}'], 'celeb_a', 'tfds build')
  assert not (tmp_path / 'run').exists()


def test_debug_shows_the_traceback(tmp_path):
  status, stderr = run_main(MIXTURE, f'--workdir={tmp_path}', '--config.num_train_step=5',
                            '--debug')
  assert status != 0 and 'Traceback' in stderr and 'ConfigMistake' in stderr


HEAVY = ('jax', 'flax', 'tensorflow', 'tensorflow_datasets', 'grain')


def heavy_modules_imported_by(program):
  """The HEAVY modules that `program` (Python source) imported, in a fresh interpreter."""
  program += f'\nprint(sorted(m for m in {HEAVY} if m in sys.modules))\n'
  result = subprocess.run([sys.executable, '-c', program], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
  return result.stdout.strip().splitlines()[-1]


def test_no_config_starts_jax_to_be_checked(tmp_path):
  # Every config file loaded and checked as main.py checks it.
  assert heavy_modules_imported_by(
      'import glob, sys\n'
      'from ali_jax.runs import preflight\n'
      'from ali_jax.settings import mistakes\n'
      'for path in sorted(glob.glob("configs/*.py")):\n'
      '  if "def get_config" in open(path).read():\n'
      '    try:\n'
      f'      preflight.check_run(preflight.load_config_file(path), "{tmp_path}/run")\n'
      '    except mistakes.DatasetNotPrepared:\n'
      '      pass  # the papers\' datasets are not prepared here\n') == '[]'


def test_mistakes_are_found_before_jax_starts(tmp_path):
  # main.py as a module of the fresh interpreter, to see what it imported.
  assert heavy_modules_imported_by(
      'import runpy, sys\n'
      f'sys.argv = ["main.py", "{MIXTURE}", "--workdir={tmp_path}", "--config.seed=-1"]\n'
      'try:\n  runpy.run_path("main.py", run_name="__main__")\n'
      'except SystemExit as exit:\n  assert exit.code == 2, exit.code\n') == '[]'
