"""Semi-supervised ALI on CIFAR-10, 4,000 labels (docs/papers.md sections 5, 6), for accelerators.

The paper's CIFAR-10 networks and optimisation (configs/cifar10.py) with its
K+1-class joint D: 17.99 % test error in the paper (1,000 / 2,000 / 8,000
labels: 19.98 / 19.09 / 17.05 %; set method_options.num_labels). As in
configs/svhn_semi_supervised.py, what the paper leaves out follows Salimans et
al. 2016.
"""
from configs import cifar10


def get_config():
  config = cifar10.get_config()
  config.method = 'semi_supervised'
  config.parameter_average.decay = 0.9999  # D's Polyak average classifies
  config.method_options.num_labels = 4_000
  # The whole test split: the final test_error reads it (evaluations during training
  # read the validation split train[45000:], 5,000 images).
  config.data.num_heldout = 10_000
  return config
