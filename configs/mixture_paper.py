"""The mixture with the paper's own schedule: 200 epochs at a constant lr of 1e-4.

docs/papers.md section 4: Adam(1e-4, beta1=0.8), batch 100, 200 epochs of 100,000
points = 200,000 steps (about half an hour on 2 CPU cores).
"""
from configs import mixture


def get_config():
  config = mixture.get_config()
  config.num_train_steps = 200_000
  config.eval_every_steps = 20_000
  config.checkpoint_every_steps = 10_000
  config.log_every_steps = 2_000
  config.optimizer.learning_rate = 1e-4
  config.optimizer.schedule = 'constant'
  return config
