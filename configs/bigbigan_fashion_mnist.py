"""BigBiGAN (Donahue & Simonyan 2019) on Fashion-MNIST, sized for 2 CPU cores.

BigBiGAN's objective and networks (ali_jax/models/bigbigan_networks.py, the 28-px
table 'bigbigan_28': BigGAN-style residual G and D with spectral norm, a small
pre-activation ResNet E, 120-d Gaussian prior), Adam(2e-4, beta1 0.5) for all
three networks as the PyTorch port in docs/papers.md, one simultaneous update per
step (BigGAN's and the port's 2 D steps per G step are not built), and an
exponential moving average of E's and G's weights for evaluation and sampling.
The data as configs/fashion_mnist.py (the Debian package's IDX files).
"""
from ali_jax.settings import datasets
from configs import common

STEPS = 6_000  # about an hour on 2 CPU cores (experiments/benchmark.py; docs/bigbigan.md)


def get_config():
  config = common.image_config(dataset='fashion_mnist', architecture='bigbigan_28',
                               train_examples=60_000, epochs=1, batch_size=64)
  config.data.manual_dir = datasets.FASHION_MNIST_DEBIAN_DIR  # the four .gz IDX files
  config.data.num_heldout = 10_000  # the whole test split
  config.data.num_eval_samples = 10_000  # samples the reference classifier reads
  config.method = 'bigbigan'
  config.model.dropout_rate = 0.0  # BigBiGAN's D has none
  config.optimizer.learning_rate = 2e-4
  config.num_train_steps = STEPS
  config.log_every_steps = 200
  config.eval_every_steps = STEPS // 2
  config.checkpoint_every_steps = 1_000
  # E's and G's weights averaged for evaluation and sampling (BigGAN averages
  # G's at 0.9999 over far longer runs; 0.999 here for a run of a few thousand steps).
  config.parameter_average.decay = 0.999
  config.parameter_average.networks = ('encoder', 'generator')
  return config
