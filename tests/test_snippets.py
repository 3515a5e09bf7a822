"""Every ```python block of the README and docs/ runs as a reader would paste it, and
every `python main.py` command of their ```bash blocks is a right command.

A page's blocks run in order in one namespace (a later block may use an earlier
one's names), from a folder holding `runs/mixture`: a finished run of the quick
start's model, shrunk (configs/mixture_tiny.py), as a reader has it after the
quick start. Sketches that are not meant to run are fenced without a language.
The commands are checked with main.py --check_only (config, overrides, workdir),
which stops before JAX starts.
"""
import contextlib
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

from ali_jax.training import trainer
from configs import mixture_tiny

REPO = pathlib.Path(__file__).resolve().parent.parent
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
_PYTHON_BLOCK = re.compile(r'^```python[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)
_BASH_BLOCK = re.compile(r'^```bash[ \t]*\n(.*?)^```[ \t]*$', re.M | re.S)


def python_blocks(text):
  """[(line number, code)] of the page's ```python blocks."""
  return [(text.count('\n', 0, match.start()) + 2, match.group(1))
          for match in _PYTHON_BLOCK.finditer(text)]


def main_commands(text):
  """The arguments of each `python main.py ...` command in the page's ```bash blocks."""
  commands = []
  for match in _BASH_BLOCK.finditer(text):
    for line in match.group(1).replace('\\\n', ' ').splitlines():
      for part in re.split(r'&&|;|\|', line.split(' #')[0]):
        words = shlex.split(part.replace('"', ''))
        if words[:2] == ['python', 'main.py']:
          commands.append(words[2:])
  return commands


def test_main_commands_are_found():
  page = ('```bash\napt-get install x   # first\n. a && python main.py --config=c.py \\\n'
          '  --workdir=w  # comment\n```\n```python\npython main.py --no\n```\n')
  assert main_commands(page) == [['--config=c.py', '--workdir=w']]


COMMANDS = [(page, command) for page in PAGES for command in main_commands(page.read_text())]


@pytest.mark.parametrize('page, command', COMMANDS,
                         ids=[f'{page.name}:{" ".join(c)}' for page, c in COMMANDS])
def test_main_commands_are_right(page, command, tmp_path):
  del page  # in the test's name
  # A local workdir here, so that runs of the reader's own are never read.
  command = [f'--workdir={tmp_path / "run"}'
             if a.startswith('--workdir=') and '://' not in a else a for a in command]
  result = subprocess.run([sys.executable, 'main.py', *command, '--check_only'], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
  # Datasets that are not prepared here (CelebA...) fail the data check alone.
  assert result.returncode == 0 or 'is not prepared' in result.stderr, result.stderr


def test_python_blocks_are_found_with_their_lines():
  page = 'intro\n```python\nx = 1\n```\ntext\n```bash\nls\n```\n```python\ny = x\n```\n'
  assert python_blocks(page) == [(3, 'x = 1\n'), (10, 'y = x\n')]


@pytest.fixture(scope='module')
def reader_folder(tmp_path_factory):
  """A folder where the quick start has been run (a tiny version of it)."""
  folder = tmp_path_factory.mktemp('reader')
  trainer.train_and_evaluate(mixture_tiny.get_config(), str(folder / 'runs' / 'mixture'))
  return folder


PAGES_WITH_CODE = [page for page in PAGES if python_blocks(page.read_text())]


def test_the_readme_has_snippets():
  assert REPO / 'README.md' in PAGES_WITH_CODE


@pytest.mark.parametrize('page', PAGES_WITH_CODE, ids=lambda page: page.name)
def test_snippets_run(page, reader_folder):
  namespace = {'__name__': '__snippet__'}
  with contextlib.chdir(reader_folder):
    for line, code in python_blocks(page.read_text()):
      # Named by page and line, a failing block's traceback points at the page.
      program = compile(code, f'{os.path.relpath(page, REPO)}:{line}', 'exec')
      exec(program, namespace)  # pylint: disable=exec-used
