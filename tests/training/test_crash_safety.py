"""SIGKILL at random moments, during checkpoint writes too, then resume: nothing is lost."""
import os
import random
import signal

import jax
import numpy as np

from ali_jax.training import trainer
from tests import helpers

FINAL_STEP = 60
# The killed runs are given more steps than any kill can reach, so that none ends before
# its kill; a constant learning rate keeps their updates those of a FINAL_STEP run.
FLAGS = ('--config.num_train_steps=100000', '--config.checkpoint_every_steps=5',
         '--config.log_every_steps=5', '--config.eval_every_steps=100000',
         '--config.optimizer.schedule=constant')


def _configure(config, final_step):
  config.num_train_steps = final_step
  config.checkpoint_every_steps = 5
  config.log_every_steps = 5
  config.eval_every_steps = 100000
  config.optimizer.schedule = 'constant'


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path, tiny_config):
  rng = random.Random(0)
  workdir = tmp_path / 'killed'
  killed_mid_write = 0
  for attempt in range(6):
    log = tmp_path / f'attempt_{attempt}.log'
    process = helpers.launch_main(workdir, log, *FLAGS)
    try:
      # Each attempt first lets the run finish a checkpoint past the last one,
      # so the kills spread over the run and each resume has progress to keep.
      target = 5 * (attempt + 1) + rng.randrange(5)
      assert helpers.wait_until(helpers.has_checkpoint_at_least(str(workdir), target),
                                process, timeout=120), log.read_text()
      if attempt % 2:  # then the moment the next checkpoint is being written
        helpers.wait_until(helpers.checkpoint_being_written(str(workdir)), process,
                           timeout=120, interval=0.002)
      else:  # or a random moment
        helpers.wait_until(lambda: False, process, timeout=rng.uniform(0.0, 0.3))
    finally:
      process.send_signal(signal.SIGKILL)
      process.wait()
    killed_mid_write += helpers.checkpoint_being_written(str(workdir))()
    assert process.returncode == -signal.SIGKILL, log.read_text()
  assert killed_mid_write >= 1  # at least one kill hit a checkpoint write

  final_step = max(FINAL_STEP, max(helpers.finished_checkpoints(str(workdir))) + 10)
  _configure(tiny_config, final_step)
  assert trainer.train_and_evaluate(tiny_config, str(workdir))['step'] == final_step
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'uninterrupted'))
  jax.tree.map(np.testing.assert_array_equal, helpers.restored_state(workdir, tiny_config),
               helpers.restored_state(tmp_path / 'uninterrupted', tiny_config))
  assert not os.path.exists(workdir / 'corrupt_checkpoints')
