"""Each mistake a user makes on main.py's command line: one message naming it and the fix,
exit status 2, no traceback, and (but for what only the data shows) before JAX starts."""
import os
import subprocess
import sys
import time

import pytest

from ali_jax import workdir as workdir_lib
from ali_jax import workdir_lock
from ali_jax.settings import mistakes
from configs import mixture_tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def test_a_config_file_that_fails_names_its_error(tmp_path):
  broken = tmp_path / 'broken.py'
  broken.write_text('def get_config(:\n')
  assert_told([f'--config={broken}', f'--workdir={tmp_path / "run"}'], 'SyntaxError')


def test_a_workdir_that_is_a_file(tmp_path):
  (tmp_path / 'file').write_text('mine')
  assert_told([MIXTURE, f'--workdir={tmp_path / "file"}'], 'is a file')
  assert (tmp_path / 'file').read_text() == 'mine'


def test_a_busy_workdir_names_its_holder(tmp_path):
  with workdir_lock.FileLock(str(tmp_path / workdir_lock.LOCK_FILE)):
    assert_told([MIXTURE, f'--workdir={tmp_path}'], 'Another run', str(os.getpid()))


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


def test_mistakes_are_found_before_jax_starts(tmp_path):
  # main.py as a module of this fresh interpreter, to see what it imported.
  program = (
      'import runpy, sys\n'
      f'sys.argv = ["main.py", "{MIXTURE}", "--workdir={tmp_path}", "--config.seed=-1"]\n'
      'try:\n  runpy.run_path("main.py", run_name="__main__")\n'
      'except SystemExit as exit:\n  assert exit.code == 2, exit.code\n'
      'print(sorted(m for m in ("jax", "flax", "tensorflow", "grain") if m in sys.modules))\n')
  result = subprocess.run([sys.executable, '-c', program], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
  assert result.stdout.strip().splitlines()[-1] == '[]', result.stderr
