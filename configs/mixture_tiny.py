"""The mixture config shrunk to seconds on a CPU: small networks, few steps.

For tests and smoke runs; it proves the plumbing, not the paper.
"""
from configs import mixture


def get_config():
  config = mixture.get_config()
  config.data.num_train = 2_000
  config.data.num_heldout = 500
  config.data.num_eval_samples = 1_000
  config.batch_size = 16
  config.num_train_steps = 12
  config.log_every_steps = 4
  config.eval_every_steps = 8
  config.checkpoint_every_steps = 4
  config.model.encoder_hidden = (32, 32)
  config.model.generator_hidden = (32, 32)
  config.model.discriminator_hidden = (16, 16)
  config.model.maxout_pieces = 3
  return config
