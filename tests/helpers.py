"""Test helpers: steps in a loop, main.py as local processes with hard timeouts, checkpoints,
and the check that each network descends its own loss."""
import os
import random
import signal
import socket
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import optax

from ali_jax.hosts import devices
from ali_jax.models import priors
from ali_jax.runs import checkpoints
from ali_jax.runs import workdir as workdir_lib
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_steps(step_fn, state, batches, shard=None):
  """(state, last metrics) after `step_fn` on each of `batches`, each split over `shard`
  devices first if given (a pmapped step)."""
  metrics = None
  for batch in batches:
    if shard:
      batch = devices.split_for_devices(batch, shard)
    state, metrics = step_fn(state, batch)
    jax.block_until_ready(metrics)  # XLA:CPU rendezvous trap: never queue steps
  return state, metrics


def _lowest_ephemeral_port():
  """The bottom of the range the kernel hands out for port 0 and outgoing connections."""
  try:
    with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
      return int(f.read().split()[0])
  except (OSError, ValueError, IndexError):
    return 32768  # Linux's default


def free_port(attempts=200):
  """A loopback port for a server that another process binds (jax.distributed's
  coordinator), where the bound socket cannot be handed over.

  It is drawn outside the ephemeral range, so no outgoing connection and no other
  server bound to port 0 (the storage emulator) can take it between this check and the
  coordinator's bind; only another explicit bind could, and each test draws at random.
  """
  low = _lowest_ephemeral_port()
  rng = random.Random()
  for _ in range(attempts):
    port = rng.randrange(max(1024, low - 12_000), low)
    with socket.socket() as s:
      try:
        s.bind(('127.0.0.1', port))
      except OSError:
        continue
      return port
  raise RuntimeError(f'No free loopback port below {low} in {attempts} tries.')


def launch_main(workdir, log_path, *flags, devices=4, env=None):
  """Starts `main.py` on the tiny mixture config with `devices` CPU devices
  (`env`: more environment variables)."""
  # TMPDIR beside the log: what a killed run leaves in its temporary folder (a
  # bucket run's local event files) goes with the test's own folder.
  env = dict(os.environ, **(env or {}), JAX_PLATFORMS='cpu',
             XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
             TMPDIR=os.path.dirname(os.path.abspath(log_path)))
  command = [sys.executable, os.path.join(REPO, 'main.py'),
             '--config=' + os.path.join(REPO, 'configs/mixture_tiny.py'),
             f'--workdir={workdir}', *flags]
  log = open(log_path, 'w')  # pylint: disable=consider-using-with
  return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def launch_two_hosts(workdir, log_paths, *flags):
  """Two `main.py` processes of one job over 127.0.0.1, 2 CPU devices each."""
  port = free_port()
  return [launch_main(workdir, log_paths[i], f'--coordinator_address=127.0.0.1:{port}',
                      '--num_processes=2', f'--process_id={i}', *flags, devices=2)
          for i in range(2)]


# When the running test's waits must end (time.monotonic()), set by conftest.py from
# pytest-timeout's limit less CLEANUP_S; None: no limit.
_test_deadline = None
CLEANUP_S = 45  # kill and reap processes, then the test's own checks


def set_test_deadline(limit_s):
  global _test_deadline
  _test_deadline = time.monotonic() + limit_s - CLEANUP_S if limit_s else None


def _bounded(timeout):
  """`timeout`, cut to what is left before the running test's deadline."""
  if _test_deadline is None:
    return timeout
  return max(0.0, min(timeout, _test_deadline - time.monotonic()))


def wait_all(processes, timeout):
  """Waits for every process; SIGKILLs them all (JAX catches SIGTERM) past `timeout`
  (or past the test's deadline, if sooner)."""
  timeout = _bounded(timeout)
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
  """Polls `condition()` while `process` runs (None: no process to watch); False if it
  ended or time ran out first (`timeout`, or the test's deadline if sooner)."""
  deadline = time.time() + _bounded(timeout)
  while time.time() < deadline and (process is None or process.poll() is None):
    if condition():
      return True
    time.sleep(interval)
  return False


def log_contains(path, text):
  return lambda: text in open(path).read()


def finished_checkpoints(workdir):
  """Steps of the finished checkpoints in `workdir` (a path or a gs:// URL)."""
  directory = workdir_lib.checkpoint_dir(str(workdir))
  if not directory.exists():
    return []
  # In a bucket orbax writes <step>/ in place and its commit marker last.
  finished = ((lambda d: (d / 'commit_success.txt').exists())
              if workdir_lib.is_bucket(workdir) else (lambda d: True))
  return sorted(int(d.name) for d in directory.iterdir() if d.name.isdigit() and finished(d))


def checkpoint_being_written(workdir):
  """True while orbax writes a checkpoint: on disk into a temporary directory, in a
  bucket into <step>/ before its commit marker."""
  directory = workdir_lib.checkpoint_dir(str(workdir))
  def condition():
    if not directory.exists():
      return False
    names = [d.name for d in directory.iterdir()]
    if workdir_lib.is_bucket(workdir):
      return bool(set(n for n in names if n.isdigit()) - set(map(str, finished_checkpoints(
          workdir))))
    return any('orbax-checkpoint-tmp' in name for name in names)
  return condition


def has_checkpoint_at_least(workdir, step):
  return lambda: max(finished_checkpoints(workdir), default=-1) >= step


def restored_state(workdir, config, step=None):
  """The checkpoint at `step` (default: the latest) in `workdir`, on the host."""
  manager = checkpoints.make_manager(str(workdir), create=False)
  state = checkpoints.restore(
      manager, state_lib.create_train_state(run_setup.RunSetup(config)), step)
  manager.close()
  return jax.device_get(state)


def assert_each_network_gets_its_own_loss_gradient(config, batch, *, jit_references=False):
  """The step's gradient of each network its last phase trains is d(that network's own
  loss)/d(its parameters), compared as gradients (Adam's updates would hide a scale),
  and differs from the gradient of every other loss the phase minimises.

  jit_references: compute the reference gradients in one jitted program. For image networks,
  where eager jax.grad compiles each op on its own (minutes on a CPU); the small MLPs' eager
  ops stay compiled across tests, where a jit would be a new program each time.
  """
  run = run_setup.RunSetup(config, axis_name=None)
  phase = run.phases[-1]
  state = state_lib.create_train_state(run)
  # The step's randomness, drawn as step.py draws it on one device.
  step_key = jax.random.fold_in(state.rng, state.step)
  prior_key, encoder_key, dropout_key = jax.random.split(step_key, 3)
  shape = (len(batch['x']), config.model.latent_dim)
  z = priors.sample(prior_key, shape, config.model.prior)
  noise = jax.random.normal(encoder_key, shape)
  extra = {}
  if 'x_labelled' in batch:
    extra['labelled'] = step_lib.Labelled(batch['x_labelled'], batch['label'], jax.random.normal(
        jax.random.fold_in(step_key, step_lib.LABELLED_NOISE_STREAM),
        (len(batch['x_labelled']), config.model.latent_dim)))

  def losses_of(params):
    calls = step_lib.NetworkCalls(run.networks, state, params,
                                  dropout_key=jax.random.fold_in(dropout_key, 0),
                                  loss_form=config.loss_form, prior=config.model.prior,
                                  discriminator_batches=config.model.discriminator_batches)
    terms = phase.objective.losses(calls, batch['x'], batch.get('y'), z, noise, **extra)
    return terms, calls.new_batch_stats

  params = {name: getattr(state, name).params for name in phase.trains}
  _, grads, _ = jax.jit(lambda p: step_lib.own_loss_gradients(phase.objective, losses_of,
                                                              p))(params)
  minimised = sorted(set(phase.objective.minimises.values()))
  references = lambda p: {loss: jax.grad(lambda q: losses_of(q)[0][loss])(p) for loss in minimised}
  gradient_of_loss = (jax.jit(references) if jit_references else references)(params)
  distance = lambda a, b: float(optax.tree.norm(jax.tree.map(jnp.subtract, a, b)))
  for name in phase.trains:
    own = phase.objective.minimises[name]
    reference = gradient_of_loss[own][name]
    scale = float(optax.tree.norm(reference))
    assert scale > 0, name
    assert distance(grads[name], reference) <= 1e-4 * scale, name  # float32, jit or not
    for other in set(minimised) - {own}:  # must not be descended
      wrong = gradient_of_loss[other][name]
      if float(optax.tree.norm(wrong)) > 1e-6:
        assert distance(grads[name], wrong) > 1e-2 * scale, (name, other)
