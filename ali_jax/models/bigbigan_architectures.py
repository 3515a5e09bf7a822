"""BigBiGAN's network sizes (Donahue & Simonyan 2019; docs/papers.md): named tables.

Plain data, so that configs and their checks read them without JAX
(ali_jax/models/bigbigan_networks.py builds the networks from them; its docstring says
which sizes are the paper's and which are ours).
"""
import dataclasses
from typing import NamedTuple, Tuple

LATENT_DIM = 120  # BigBiGAN's default prior: N(0, I) in 120 dimensions


class EncoderStage(NamedTuple):
  """`blocks` residual blocks with `channels` outputs, the first of stride `stride`."""
  channels: int
  blocks: int
  stride: int


@dataclasses.dataclass(frozen=True)
class Architecture:
  """The sizes of one BigBiGAN: the image it works on and each network's widths."""
  image_size: int
  channels: int
  generator_base: int                       # G's first feature map is base x base
  generator_channels: Tuple[int, ...]       # the linear layer's, then each up-block's output
  discriminator_channels: Tuple[int, ...]   # each down-block's output
  discriminator_downsample: Tuple[bool, ...]
  encoder_stem: int                         # the first conv's channels
  encoder_stages: Tuple[EncoderStage, ...]
  encoder_bottleneck: bool                  # ResNet-50's 1x1-3x3-1x1 blocks (4x expansion)
  encoder_head: Tuple[int, int]             # (width, layers) of E's MLP after pooling
  unary_z: Tuple[int, int]                  # H's (width, layers)
  joint: Tuple[int, int]                    # J's (width, layers)
  attention_resolution: int = 0             # 0: no self-attention
  latent_dim: int = LATENT_DIM

  @property
  def latent_chunks(self):
    """G's z chunks: one for the linear layer and one per up-block."""
    return len(self.generator_channels)


def _resnet50_stages():
  return (EncoderStage(256, 3, 1), EncoderStage(512, 4, 2), EncoderStage(1024, 6, 2),
          EncoderStage(2048, 3, 2))


ARCHITECTURES = {
    # BigGAN's 128-px G and D (ch = 96), a ResNet-50 E: for accelerators.
    'bigbigan_128': Architecture(
        image_size=128, channels=3, generator_base=4,
        generator_channels=(1536, 1536, 768, 384, 192, 96),
        discriminator_channels=(96, 192, 384, 768, 1536, 1536),
        discriminator_downsample=(True, True, True, True, True, False),
        encoder_stem=64, encoder_stages=_resnet50_stages(), encoder_bottleneck=True,
        encoder_head=(4096, 4), unary_z=(2048, 4), joint=(2048, 4),
        attention_resolution=64),
    # 32 px (CIFAR-10): G 4 -> 32 in three up-blocks, a ResNet-18-like E.
    'bigbigan_32': Architecture(
        image_size=32, channels=3, generator_base=4, generator_channels=(256, 256, 256, 256),
        discriminator_channels=(128, 128, 128, 128),
        discriminator_downsample=(True, True, False, False),
        encoder_stem=64, encoder_stages=(EncoderStage(64, 2, 1), EncoderStage(128, 2, 2),
                                         EncoderStage(256, 2, 2), EncoderStage(512, 2, 2)),
        encoder_bottleneck=False, encoder_head=(512, 2), unary_z=(512, 2), joint=(512, 2)),
    # 28 px grey (Fashion-MNIST, MNIST), small enough for 2 CPU cores.
    'bigbigan_28': Architecture(
        image_size=28, channels=1, generator_base=7, generator_channels=(128, 64, 32),
        discriminator_channels=(32, 64, 128), discriminator_downsample=(True, True, False),
        encoder_stem=32, encoder_stages=(EncoderStage(32, 1, 1), EncoderStage(64, 1, 2),
                                         EncoderStage(128, 1, 2)),
        encoder_bottleneck=False, encoder_head=(256, 2), unary_z=(256, 2), joint=(256, 2)),
}


def is_bigbigan(architecture):
  """Whether config.model.architecture names one of these networks' tables."""
  return architecture in ARCHITECTURES
