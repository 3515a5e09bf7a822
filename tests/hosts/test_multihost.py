"""Several processes over 127.0.0.1, and preemption by SIGTERM, through the real main.py."""
import signal

import jax
import numpy as np

from ali_jax.training import trainer
from tests import helpers



def _run_two_processes(workdir, log_dir, *flags):
  processes = helpers.launch_two_hosts(
      workdir, [log_dir / f'process_{i}.log' for i in range(2)], *flags)
  return_codes = helpers.wait_all(processes, timeout=240)
  logs = [(log_dir / f'process_{i}.log').read_text() for i in range(2)]
  # A non-zero exit would include the trainer's check that both processes
  # ended with identical parameters.
  assert return_codes == [0, 0], logs
  return logs


def test_two_processes_train_and_resume_like_one(tmp_path, tiny_config):
  workdir = tmp_path / 'two_processes'
  # Half the run, then a relaunch that resumes from the checkpoint both wrote.
  _run_two_processes(workdir, tmp_path, '--config.num_train_steps=8',
                     '--config.optimizer.schedule=constant')
  logs = _run_two_processes(workdir, tmp_path, '--config.optimizer.schedule=constant')
  assert 'JAX process 0 of 2' in logs[0] and 'JAX process 1 of 2' in logs[1]
  assert 'Resumed from the checkpoint at step 8' in logs[0]
  assert (workdir / 'eval.json').exists()

  # The checkpoint they wrote together restores in this single process, and
  # equals one process with 4 devices on the same global batches.
  tiny_config.optimizer.schedule = 'constant'
  together = helpers.restored_state(workdir, tiny_config)
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'one_process'))
  alone = helpers.restored_state(tmp_path / 'one_process', tiny_config)
  assert int(together.step) == tiny_config.num_train_steps
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               together, alone)


def test_sigterm_saves_and_resume_matches_uninterrupted(tmp_path, tiny_config):
  workdir = tmp_path / 'preempted'
  log = tmp_path / 'run.log'
  # The preempted run is given more steps than the others so that it is still
  # running at SIGTERM; a constant learning rate keeps its updates the same.
  tiny_config.optimizer.schedule = 'constant'
  process = helpers.launch_main(
      workdir, log, '--config.num_train_steps=100000', '--config.log_every_steps=10',
      '--config.optimizer.schedule=constant',
      '--config.checkpoint_every_steps=100000', '--config.eval_every_steps=100000')
  try:
    assert helpers.wait_until(helpers.log_contains(log, 'step 30/'), process,
                                   timeout=120), log.read_text()
  finally:
    process.send_signal(signal.SIGTERM)
  assert helpers.wait_all([process], timeout=120) == [0], log.read_text()
  assert 'Preempted: saved a checkpoint at step' in log.read_text()
  saved = helpers.finished_checkpoints(workdir)
  assert len(saved) == 1 and saved[0] >= 30
  preempted_at = saved[0]

  tiny_config.num_train_steps = preempted_at + 12
  tiny_config.eval_every_steps = 100000
  trainer.train_and_evaluate(tiny_config, str(workdir))
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'uninterrupted'))
  resumed = helpers.restored_state(workdir, tiny_config)
  assert int(resumed.step) == preempted_at + 12
  jax.tree.map(np.testing.assert_array_equal, resumed,
               helpers.restored_state(tmp_path / 'uninterrupted', tiny_config))


def test_sigterm_to_one_host_stops_both_at_the_same_step(tmp_path, tiny_config):
  workdir = tmp_path / 'preempted'
  logs = [tmp_path / f'process_{i}.log' for i in range(2)]
  processes = helpers.launch_two_hosts(
      workdir, logs, '--config.num_train_steps=100000', '--config.log_every_steps=10',
      '--config.checkpoint_every_steps=100000', '--config.eval_every_steps=100000')
  try:
    assert helpers.wait_until(helpers.log_contains(logs[0], 'step 30/'), processes[0],
                              timeout=120), logs[0].read_text()
  finally:
    processes[1].send_signal(signal.SIGTERM)  # the scheduler preempts one host
  assert helpers.wait_all(processes, timeout=120) == [0, 0], [p.read_text() for p in logs]
  saved = helpers.finished_checkpoints(workdir)
  assert len(saved) == 1 and saved[0] >= 30
  assert helpers.restored_state(workdir, tiny_config).step == saved[0]
