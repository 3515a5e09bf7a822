"""Semi-supervised ALI on SVHN with 1,000 labels (docs/papers.md sections 5, 6), for accelerators.

The paper's SVHN networks and optimisation (configs/svhn.py) with its K+1-class
joint D: 7.42 +- 0.65 % test error in the paper. Its semi-supervised code was
never released; what is not in the paper follows the recipe it built on
(Salimans et al. 2016): the unsupervised term weighted 1/2 and a Polyak
average of D's weights (decay 0.9999) to classify with.
"""
from configs import svhn


def get_config():
  config = svhn.get_config()
  config.method = 'semi_supervised'
  config.parameter_average.decay = 0.9999  # D's Polyak average classifies
  config.method_options.num_labels = 1_000
  config.data.num_heldout = 26_032  # the whole test split: test_error reads it
  return config
