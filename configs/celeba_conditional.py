"""Conditional ALI on CelebA's 40 attributes (docs/papers.md section 3), batch 128.

The attributes are embedded linearly (40 -> 256) and join the encoder before
its last 1x1 conv, z at the generator's input, and D_xz's input.
"""
from configs import common


def get_config():
  config = common.image_config(dataset='celeba', architecture='celeba',
                               train_examples=162_770, epochs=123, batch_size=128)
  config.model.condition_dim = 40
  return config
