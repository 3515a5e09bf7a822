"""BiGAN's permutation-invariant MNIST setup (configs/bigan_mnist_mlp.py) on the digits.

The same MLPs, U(-1, 1)^50 prior and optimisation, on scikit-learn's 1,797
handwritten digits at 32x32 (offline, prepared on first use): 1,024 inputs
instead of 784, as the MLPs never see the layout. At 1,200 training images (the
last 300 of the 1,500 validate), BiGAN's 400 epochs of 128 are 3,750 steps, so
nothing is shortened: half at the constant rate, half decaying to 0.01x, as
BiGAN's schedule.
"""
from configs import bigan_mnist_mlp

TRAIN_EXAMPLES = 1_200  # the digits' training split less validation (ali_jax/data/images.py)


def get_config():
  config = bigan_mnist_mlp.get_config()
  config.dataset = 'digits'
  del config.data['manual_dir']  # Fashion-MNIST's original files
  config.data.num_heldout = 297  # the whole test split
  config.data.num_eval_samples = 1_000  # samples the reference classifier reads
  config.num_train_steps = bigan_mnist_mlp.BIGAN_EPOCHS * TRAIN_EXAMPLES // config.batch_size
  config.eval_every_steps = config.num_train_steps
  config.checkpoint_every_steps = 1_000
  return config
