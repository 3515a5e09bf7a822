"""The paper's image networks, written as layer specs in the paper's notation.

A layer is 'c5/1/32 bn': c = convolution, t = transposed convolution, then
kernel/stride/channels; 'bn' adds batch norm (and drops the conv's bias);
'drop0.5' sets the dropout on the layer's input (discriminators only; default
config.model.dropout_rate). All convolutions use VALID padding, so a conv maps
n to (n - k) // s + 1 and a transposed conv maps n to (n - 1) * s + k.
Sources: docs/papers.md section 3 (Dumoulin et al. 2017, appendix tables, and the
official code). The last encoder layer outputs [mu, log_sigma] (2 * latent_dim
channels); the last generator layer is followed by a per-pixel bias and a
sigmoid.
"""
import dataclasses
import re
from typing import NamedTuple, Optional, Tuple


class Layer(NamedTuple):
  transposed: bool
  kernel: int
  stride: int
  features: int
  batch_norm: bool
  dropout: Optional[float]  # None: the discriminator's default rate

  def output_size(self, size):
    if self.transposed:
      return (size - 1) * self.stride + self.kernel
    return (size - self.kernel) // self.stride + 1


_LAYER = re.compile(r'^([ct])(\d+)/(\d+)/(\d+)((?: bn| drop[0-9.]+)*)$')


def parse_layer(text):
  match = _LAYER.match(text.strip())
  if not match:
    raise ValueError(f'Cannot read layer spec {text!r}; expected e.g. "c4/2/64 bn".')
  kind, kernel, stride, features, options = match.groups()
  dropout = re.search(r'drop([0-9.]+)', options)
  return Layer(kind == 't', int(kernel), int(stride), int(features), ' bn' in options,
               float(dropout.group(1)) if dropout else None)


def parse(texts):
  return tuple(parse_layer(t) for t in texts)


@dataclasses.dataclass(frozen=True)
class Architecture:
  image_size: int
  channels: int
  latent_dim: int
  leaky_relu_slope: float
  encoder: Tuple[Layer, ...]        # last layer: 2 * latent_dim channels, [mu, log_sigma]
  generator: Tuple[Layer, ...]      # last layer: image channels, then pixel bias + sigmoid
  discriminator_x: Tuple[Layer, ...]
  discriminator_z: Tuple[Layer, ...]
  discriminator_joint: Tuple[Layer, ...]  # last layer: 1 channel, the logit
  maxout_pieces: int = 1            # 2 for CIFAR-10's discriminator
  default_dropout: float = 0.2

  def sizes(self, network):
    """The spatial size after each layer of `network` (the tables' "out" column)."""
    size = 1 if network in ('generator', 'discriminator_z', 'discriminator_joint') else \
        self.image_size
    sizes = []
    for layer in getattr(self, network):
      size = layer.output_size(size)
      sizes.append(size)
    return sizes


_SVHN_ENCODER = ('c5/1/32 bn', 'c4/2/64 bn', 'c4/1/128 bn', 'c4/2/256 bn', 'c4/1/512 bn',
                 'c1/1/512 bn')
_SVHN_GENERATOR = ('t4/1/256 bn', 't4/2/128 bn', 't4/1/64 bn', 't4/2/32 bn', 't5/1/32 bn',
                   'c1/1/32 bn', 'c1/1/3')

ARCHITECTURES = {
    'svhn': Architecture(
        image_size=32, channels=3, latent_dim=256, leaky_relu_slope=0.01,
        encoder=parse(_SVHN_ENCODER + ('c1/1/512',)),
        generator=parse(_SVHN_GENERATOR),
        discriminator_x=parse(('c5/1/32', 'c4/2/64 bn', 'c4/1/128 bn', 'c4/2/256 bn',
                               'c4/1/512 bn')),
        discriminator_z=parse(('c1/1/512', 'c1/1/512')),
        discriminator_joint=parse(('c1/1/1024', 'c1/1/1024', 'c1/1/1'))),
    # Like SVHN with 64 latents, slope 0.1 and a 2-piece maxout D without batch
    # norm (channels are before maxout: D_x and D_z end in 256 each, the joint
    # input is 512 as in the code). Dropout per layer as the paper lists it.
    'cifar10': Architecture(
        image_size=32, channels=3, latent_dim=64, leaky_relu_slope=0.1,
        encoder=parse(_SVHN_ENCODER + ('c1/1/128',)),
        generator=parse(_SVHN_GENERATOR),
        discriminator_x=parse(('c5/1/32 drop0.2', 'c4/2/64 drop0.5', 'c4/1/128 drop0.5',
                               'c4/2/256 drop0.5', 'c4/1/512 drop0.5')),
        discriminator_z=parse(('c1/1/512 drop0.2', 'c1/1/512 drop0.5')),
        discriminator_joint=parse(('c1/1/1024 drop0.5', 'c1/1/1024 drop0.5',
                                   'c1/1/1 drop0.5')),
        maxout_pieces=2),
    'celeba': Architecture(
        image_size=64, channels=3, latent_dim=256, leaky_relu_slope=0.02,
        encoder=parse(('c2/1/64 bn', 'c7/2/128 bn', 'c5/2/256 bn', 'c7/2/256 bn',
                       'c4/1/512 bn', 'c1/1/512')),
        generator=parse(('t4/1/512 bn', 't7/2/256 bn', 't5/2/256 bn', 't7/2/128 bn',
                         't2/1/64 bn', 'c1/1/3')),
        discriminator_x=parse(('c2/1/64', 'c7/2/128 bn', 'c5/2/256 bn', 'c7/2/256 bn',
                               'c4/1/512 bn')),
        discriminator_z=parse(('c1/1/1024', 'c1/1/1024')),
        discriminator_joint=parse(('c1/1/2048', 'c1/1/2048', 'c1/1/1'))),
    'imagenet64': Architecture(
        image_size=64, channels=3, latent_dim=256, leaky_relu_slope=0.01,
        encoder=parse(('c4/2/64 bn', 'c4/1/64 bn', 'c4/2/128 bn', 'c4/1/128 bn',
                       'c4/2/256 bn', 'c4/1/256 bn', 'c1/1/2048 bn', 'c1/1/2048 bn',
                       'c1/1/512')),
        generator=parse(('c1/1/2048 bn', 'c1/1/256 bn', 't4/1/256 bn', 't4/2/128 bn',
                         't4/1/128 bn', 't4/2/64 bn', 't4/1/64 bn', 't4/2/64 bn',
                         'c1/1/3')),
        discriminator_x=parse(('c4/2/64', 'c4/1/64 bn', 'c4/2/128 bn', 'c4/1/128 bn',
                               'c4/2/256 bn', 'c4/1/256 bn')),
        discriminator_z=parse(('c1/1/2048', 'c1/1/2048')),
        discriminator_joint=parse(('c1/1/4096', 'c1/1/4096', 'c1/1/1'))),
    # Not from the paper: the SVHN layout at a quarter of the width, 1 channel
    # and 32 latents, small enough to train on 2 CPU cores in minutes.
    'digits': Architecture(
        image_size=32, channels=1, latent_dim=32, leaky_relu_slope=0.1,
        encoder=parse(('c5/1/16 bn', 'c4/2/32 bn', 'c4/1/64 bn', 'c4/2/64 bn', 'c4/1/128 bn',
                       'c1/1/64')),
        generator=parse(('t4/1/128 bn', 't4/2/64 bn', 't4/1/32 bn', 't4/2/32 bn',
                         't5/1/16 bn', 'c1/1/1')),
        discriminator_x=parse(('c5/1/16', 'c4/2/32 bn', 'c4/1/64 bn', 'c4/2/64 bn',
                               'c4/1/128 bn')),
        discriminator_z=parse(('c1/1/128', 'c1/1/128')),
        discriminator_joint=parse(('c1/1/256', 'c1/1/256', 'c1/1/1'))),
    # Not from the paper: a 28x28 table in its style for Fashion-MNIST (and any
    # 28x28 grey data), sized for 2 CPU cores. Strides 2, 1, 2, 1 take 28 to 1
    # (28 -> 13 -> 10 -> 4 -> 1) as the SVHN table takes 32 to 1. D drops its
    # raw x and z at 0.2 (the paper's CIFAR-10 D) and hidden units at
    # config.model.dropout_rate: dropping half of z hid from D what pairs it
    # with x (experiments/results/trials_fashion_mnist.md).
    'fashion_mnist': Architecture(
        image_size=28, channels=1, latent_dim=64, leaky_relu_slope=0.1,
        encoder=parse(('c4/2/32 bn', 'c4/1/64 bn', 'c4/2/128 bn', 'c4/1/256 bn',
                       'c1/1/256 bn', 'c1/1/128')),
        generator=parse(('t4/1/256 bn', 't4/2/128 bn', 't4/1/64 bn', 't4/2/32 bn',
                         'c1/1/32 bn', 'c1/1/1')),
        discriminator_x=parse(('c4/2/32 drop0.2', 'c4/1/64 bn', 'c4/2/128 bn', 'c4/1/256 bn')),
        discriminator_z=parse(('c1/1/256 drop0.2', 'c1/1/256')),
        discriminator_joint=parse(('c1/1/512', 'c1/1/512', 'c1/1/1'))),
}
