"""ALI on SVHN (docs/papers.md section 3): 100 epochs on the `extra` split (531,131 images)."""
from configs import common


def get_config():
  return common.image_config(dataset='svhn', architecture='svhn', train_examples=531_131,
                             epochs=100)
