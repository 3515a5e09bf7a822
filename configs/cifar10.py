"""ALI on CIFAR-10 (docs/papers.md section 3): 6,475 epochs of train[0:45000], maxout D."""
from configs import common


def get_config():
  return common.image_config(dataset='cifar10', architecture='cifar10',
                             train_examples=45_000, epochs=6_475)
