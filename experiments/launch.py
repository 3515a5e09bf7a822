"""Training runs as subprocesses of main.py, as the experiment sweeps start them."""
import glob
import json
import os
import re
import subprocess
import sys

from absl import app

from ali_jax.runs import preflight
from ali_jax.runs import workdir as workdir_lib
from experiments import reporting

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_FILE = 'sweep_log.txt'  # the run's output, in its workdir
COMMITS_FILE = 'launch_commits.txt'  # the commit of every start of the run, a line each
MACHINES_FILE = 'launch_machines.txt'  # the machine of every start (reporting.machine)
# What the trainer says when it stops on non-finite numbers (trainer.check_divergence),
# and when a run ends.
DIVERGED = re.compile(r'Training diverged at step (\d+)')
DONE = 'Done. Metrics:'


class RunDiverged(RuntimeError):
  """A run that stopped on non-finite losses or gradients: a result of its settings (the
  same command diverges again at the same step), not a failure to retry."""

  def __init__(self, workdir, step):
    super().__init__(f'The run in {workdir} diverged at step {step}.')
    self.workdir, self.step = workdir, step


def check_choices(flag, chosen, allowed):
  """Stops with a usage error naming the values of --`flag` that are not in `allowed`."""
  unknown = sorted(set(chosen) - set(allowed))
  if unknown:
    raise app.UsageError(f'--{flag}: unknown {unknown}; choose from {list(allowed)}.')


def overrides_from(assignments):
  """['FIELD=VALUE', ...] (a sweep's --set flags) -> {FIELD: VALUE}."""
  return dict(assignment.split('=', 1) for assignment in assignments)


def num_train_steps(config_path, overrides):
  """The step count of the config file at `config_path` (relative to the checkout, or
  absolute) once a sweep's `overrides` ({FIELD: VALUE}) apply."""
  if 'num_train_steps' in overrides:
    return int(overrides['num_train_steps'])
  return preflight.load_config_file(os.path.join(REPO, config_path)).num_train_steps


def train_run(config_path, workdir, overrides, *, skip_finished=False):
  """main.py --config=config_path --config.FIELD=VALUE... in `workdir`; its eval.json.

  A run started again resumes from its newest checkpoint; a finished one is
  only evaluated again, or with skip_finished not started at all (finished:
  its eval.json is at the num_train_steps of its config.json and of
  `overrides`, if they set it). A run that diverges raises RunDiverged; with
  skip_finished one that diverged before is not started again either.
  """
  if skip_finished and is_finished(workdir, overrides):
    return read_eval(workdir)
  if skip_finished and (step := diverged_at(workdir)) is not None:
    raise RunDiverged(workdir, step)
  command = [sys.executable, os.path.join(REPO, 'main.py'), f'--config={config_path}',
             f'--workdir={workdir}'] + [f'--config.{field}={value}'
                                        for field, value in overrides.items()]
  os.makedirs(workdir, exist_ok=True)
  for name, line in ((COMMITS_FILE, reporting.git_commit()),
                     (MACHINES_FILE, reporting.machine())):
    with open(os.path.join(workdir, name), 'a') as f:
      f.write(line + '\n')
  with open(os.path.join(workdir, LOG_FILE), 'a') as log:
    ended = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=False)
  if ended.returncode:
    step = diverged_at(workdir)
    if step is not None:
      raise RunDiverged(workdir, step)
    raise subprocess.CalledProcessError(ended.returncode, command)
  return read_eval(workdir)


def diverged_at(workdir):
  """The step at which the run in `workdir` stopped on non-finite numbers, if its last
  start ended so (its log says so after the last finished run's); else None."""
  try:
    with open(os.path.join(workdir, LOG_FILE)) as f:
      log = f.read()
  except OSError:
    return None
  stops = list(DIVERGED.finditer(log))
  if not stops or stops[-1].start() < log.rfind(DONE):
    return None
  return int(stops[-1].group(1))


def is_finished(workdir, overrides):
  """Whether the run in `workdir` evaluated at its last step (see train_run)."""
  try:
    with open(os.path.join(workdir, workdir_lib.CONFIG_FILE)) as f:
      steps = json.load(f)['num_train_steps']
    step = read_eval(workdir)['step']
  except (OSError, ValueError, KeyError):
    return False
  return step == steps == int(overrides.get('num_train_steps', steps))


def trained_at(workdir):
  """The commits that started the run in `workdir`, oldest first ([] if not recorded)."""
  return _distinct_lines(os.path.join(workdir, COMMITS_FILE))


def trained_on(workdir):
  """The machines that trained the run in `workdir`, first first ([] if not recorded)."""
  return _distinct_lines(os.path.join(workdir, MACHINES_FILE))


def _distinct_lines(path):
  try:
    with open(path) as f:
      return list(dict.fromkeys(line.strip() for line in f if line.strip()))
  except OSError:
    return []


def read_eval(workdir):
  with open(os.path.join(workdir, workdir_lib.EVAL_FILE)) as f:
    return json.load(f)


def run_wall_s(workdir):
  """Seconds from the run's first TensorBoard event file (named by its creation
  time) to its last eval.json: its training and evaluation time, with any
  pause before a resumption included."""
  starts = [int(os.path.basename(path).split('.')[3])
            for path in glob.glob(os.path.join(workdir, 'events.out.tfevents.*'))]
  if not starts:
    return float('nan')
  return os.path.getmtime(os.path.join(workdir, workdir_lib.EVAL_FILE)) - min(starts)
