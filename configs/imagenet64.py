"""ALI on ImageNet 64x64 (docs/papers.md section 3), batch 128.

docs/papers.md gives no epoch count for ImageNet; 20 epochs of the 1,281,167 training
images is our choice.
"""
from configs import common


def get_config():
  return common.image_config(dataset='imagenet64', architecture='imagenet64',
                             train_examples=1_281_167, epochs=20, batch_size=128)
