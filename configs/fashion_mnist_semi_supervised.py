"""Semi-supervised ALI on Fashion-MNIST with 1,000 labels: the K+1-class D on 2 CPU cores.

configs/fashion_mnist.py's networks, rates and 4,000 steps (the unsupervised
runs the comparison sets it beside), with method='semi_supervised': D(x, z)
outputs 10 class logits, the fake class's fixed at 0 (ali_jax/training/methods.py).
Each step also reads a labelled batch of 100 from 1,000 class-balanced
training examples. 100 labels: --config.method_options.num_labels=100. The
supervised baseline (the same E and D trained on the labels alone):
--config.method=supervised.
"""
from configs import fashion_mnist


def get_config():
  config = fashion_mnist.get_config()
  config.method = 'semi_supervised'
  config.method_options.num_labels = 1_000
  config.method_options.labels_seed = 0
  return config
