"""BiGAN as its authors built it for permutation-invariant MNIST, on any 28x28 grey data.

BiGAN's released code (train_mnist.sh; docs/papers.md): its MLPs (ali_jax/models/bigan_networks.py),
the U(-1, 1)^50 prior with the encoder squashed into it, Adam(2e-4, beta1 0.5),
batch 128, weight decay 2.5e-5, and a constant rate for half the run, then
exponential decay to 0.01x. Fashion-MNIST by default (MNIST cannot be downloaded
on this project's machine); `--config.dataset=mnist` reads MNIST from TFDS once
prepared (`tfds build mnist`).

Shortened: BiGAN trains 400 epochs of its 50,000 training images (the last 10,000 of
the 60,000 validate; 156,250 steps of 128 images); the step takes 65 ms on 2 idle CPU
cores (experiments/benchmark.py at d3980aa), 2.8 hours, so this config trains 50,000
steps (128 epochs, about an hour) with the schedule's shape kept: half at the constant
rate, half decaying to 0.01x. `--config.num_train_steps=156250` restores BiGAN's length.
"""
from ali_jax.settings import choices
from ali_jax.settings import datasets
from configs import common

BIGAN_EPOCHS = 400  # num_train_steps is then shortened below


def get_config():
  config = common.image_config(dataset='fashion_mnist', architecture=choices.BIGAN_MLP,
                               train_examples=50_000, epochs=BIGAN_EPOCHS, batch_size=128)
  config.data.manual_dir = datasets.FASHION_MNIST_DEBIAN_DIR  # the four .gz IDX files
  config.data.num_heldout = 10_000  # the whole test split
  config.data.num_eval_samples = 10_000  # samples the reference classifier reads
  config.method = 'bigan'
  config.model.encoder = 'deterministic'
  config.model.prior = 'uniform'
  config.model.dropout_rate = 0.0  # BiGAN's D has none
  config.model.init_std = 0.02  # BiGAN's code does not say here; as the mixture's MLPs
  config.optimizer.learning_rate = 2e-4
  config.optimizer.schedule = 'exponential'
  config.optimizer.decay_start_fraction = 0.5
  config.optimizer.final_learning_rate_scale = 0.01
  config.optimizer.weight_decay = 2.5e-5
  # BiGAN re-estimates every network's batch-norm statistics on 50 batches before it
  # evaluates (--deploy_iters 50).
  config.evaluation.standing_statistics_for = 'all'
  config.num_train_steps = 50_000  # shortened (module docstring)
  config.log_every_steps = 500
  config.eval_every_steps = 25_000
  config.checkpoint_every_steps = 5_000
  return config
