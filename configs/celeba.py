"""ALI on CelebA 64x64 (docs/papers.md section 3): 123 epochs of the 162,770 training faces."""
from configs import common


def get_config():
  return common.image_config(dataset='celeba', architecture='celeba',
                             train_examples=162_770, epochs=123)
