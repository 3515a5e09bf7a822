"""Test helpers: main.py as local processes with hard timeouts, and restoring checkpoints."""
import os
import signal
import socket
import subprocess
import sys
import time

import jax

from ali_jax import checkpoints
from ali_jax import run_setup
from ali_jax import state as state_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch_main(workdir, log_path, *flags, devices=4):
  """Starts `main.py` on the tiny mixture config with `devices` CPU devices."""
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}')
  command = [sys.executable, os.path.join(REPO, 'main.py'),
             '--config=' + os.path.join(REPO, 'configs/mixture_tiny.py'),
             f'--workdir={workdir}', *flags]
  log = open(log_path, 'w')  # pylint: disable=consider-using-with
  return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_all(processes, timeout):
  """Waits for every process; SIGKILLs them all (JAX catches SIGTERM) past `timeout`."""
  deadline = time.time() + timeout
  try:
    for process in processes:
      process.wait(timeout=max(0.1, deadline - time.time()))
  except subprocess.TimeoutExpired:
    for process in processes:
      process.send_signal(signal.SIGKILL)
      process.wait()
    raise AssertionError(f'processes still running after {timeout} s: killed')
  return [p.returncode for p in processes]


def wait_until(condition, process, timeout, interval=0.05):
  """Polls `condition()` while `process` runs; False if it ended or time ran out first."""
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    if condition():
      return True
    time.sleep(interval)
  return False


def log_contains(path, text):
  return lambda: text in open(path).read()


def checkpoint_being_written(workdir):
  """True while orbax writes a checkpoint (into a temporary directory)."""
  directory = os.path.join(workdir, 'checkpoints')
  return lambda: os.path.isdir(directory) and any(
      'orbax-checkpoint-tmp' in name for name in os.listdir(directory))


def has_checkpoint_at_least(workdir, step):
  def condition():
    directory = os.path.join(workdir, 'checkpoints')
    finished = [int(d) for d in os.listdir(directory) if d.isdigit()] if os.path.isdir(
        directory) else []
    return bool(finished) and max(finished) >= step
  return condition


def restored_state(workdir, config, step=None):
  """The checkpoint at `step` (default: the latest) in `workdir`, on the host."""
  manager = checkpoints.make_manager(str(workdir), create=False)
  state = checkpoints.restore(
      manager, state_lib.create_train_state(run_setup.RunSetup(config)), step)
  manager.close()
  return jax.device_get(state)
