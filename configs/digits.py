"""ALI on scikit-learn's handwritten digits at 32x32: the offline image quick start.

The data ships with scikit-learn (prepared as a TFDS dataset on first use); the
networks are the SVHN layout at a quarter of the width (ali_jax/models/ali_architectures.py).
"""
from configs import common


def get_config():
  # 180 epochs = 2,700 steps: about 15 minutes on 2 CPU cores.
  config = common.image_config(dataset='digits', architecture='digits',
                               train_examples=1_500, epochs=180)
  config.data.num_heldout = 297  # the whole test split
  config.log_every_steps = 100
  config.eval_every_steps = 900
  config.checkpoint_every_steps = 900
  return config
