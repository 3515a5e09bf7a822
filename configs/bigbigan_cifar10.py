"""BigBiGAN on CIFAR-10 at 32 px (ali_jax/models/bigbigan_networks.py, table 'bigbigan_32').

For an accelerator: BigGAN-style G (256 channels) and D (128), a ResNet-18-like
E, 120-d Gaussian prior, Adam(2e-4, beta1 0.5) for all three networks (the
PyTorch port's, docs/papers.md), batch 256, EMA of E and G at 0.9999 (BigGAN's). The
step count is ours: 100,000 steps (569 epochs of the 45,000 training images).
Not run on this project's CPU machine (docs/bigbigan.md).
"""
from configs import common


def get_config():
  config = common.image_config(dataset='cifar10', architecture='bigbigan_32',
                               train_examples=45_000, epochs=1, batch_size=256)
  config.method = 'bigbigan'
  config.model.dropout_rate = 0.0
  config.optimizer.learning_rate = 2e-4
  config.num_train_steps = 100_000
  config.eval_every_steps = 10_000
  config.checkpoint_every_steps = 5_000
  config.parameter_average.decay = 0.9999
  config.parameter_average.networks = ('encoder', 'generator')
  return config
