"""A PyTorch reference of the ALI image train step, for speed comparisons.

Optional: `pip install torch==2.13.0` (the CPU wheel). It builds the same
networks from the same layer tables (ali_jax/models/ali_architectures.py), the same
losses, ONE discriminator call on the joint batch and one Adam per network, as
ali_jax's step does, in eager PyTorch written the way a careful user would
(autograd.grad for each player's loss, no compilation). experiments/
benchmark.py --framework=torch times it; tests/experiments/test_torch_reference.py checks
that, given the flax parameters, it computes the same losses and gradients.
"""
import collections

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ali_jax.models import ali_architectures

BATCH_NORM_MOMENTUM = 0.05  # torch's convention: new = 0.95 old + 0.05 batch, as ali_jax


class Stack(nn.Module):
  """Layers of an architecture table: [dropout] -> conv -> [BN] -> LeakyReLU or maxout."""

  def __init__(self, layers, in_channels, *, slope, maxout_pieces=1, dropout=None,
               activate_last=True):
    super().__init__()
    self.slope, self.pieces, self.activate_last = slope, maxout_pieces, activate_last
    self.dropouts, self.convs, self.norms = [], nn.ModuleList(), nn.ModuleList()
    channels = in_channels
    for layer in layers:
      rate = None if dropout is None else (dropout if layer.dropout is None else layer.dropout)
      self.dropouts.append(rate)
      conv = nn.ConvTranspose2d if layer.transposed else nn.Conv2d
      self.convs.append(conv(channels, layer.features, layer.kernel, layer.stride,
                             bias=not layer.batch_norm))
      self.norms.append(nn.BatchNorm2d(layer.features, eps=1e-5,
                                       momentum=BATCH_NORM_MOMENTUM)
                        if layer.batch_norm else nn.Identity())
      channels = layer.features // maxout_pieces
    self.out_channels = channels if activate_last else layers[-1].features

  def forward(self, h):
    last = len(self.convs) - 1
    for i, (rate, conv, norm) in enumerate(zip(self.dropouts, self.convs, self.norms)):
      if rate:
        h = F.dropout(h, rate, self.training)
      h = norm(conv(h))
      if i < last or self.activate_last:
        if self.pieces > 1:  # consecutive channels form one unit, as ali_jax's maxout
          n, c, height, width = h.shape
          h = h.view(n, c // self.pieces, self.pieces, height, width).amax(2)
        else:
          h = F.leaky_relu(h, self.slope)
    return h


class Encoder(nn.Module):
  def __init__(self, arch):
    super().__init__()
    self.stack = Stack(arch.encoder[:-1], arch.channels, slope=arch.leaky_relu_slope)
    last = arch.encoder[-1]
    self.out = nn.Conv2d(self.stack.out_channels, last.features, last.kernel)

  def forward(self, x, noise):
    mu, log_sigma = self.out(self.stack(x))[:, :, 0, 0].chunk(2, dim=1)
    return mu + torch.exp(log_sigma) * noise


class Generator(nn.Module):
  def __init__(self, arch):
    super().__init__()
    self.stack = Stack(arch.generator[:-1], arch.latent_dim, slope=arch.leaky_relu_slope)
    last = arch.generator[-1]
    self.out = nn.Conv2d(self.stack.out_channels, last.features, last.kernel, bias=False)
    self.pixel_bias = nn.Parameter(torch.zeros(arch.channels, arch.image_size,
                                               arch.image_size))

  def forward(self, z):
    return torch.sigmoid(self.out(self.stack(z[:, :, None, None])) + self.pixel_bias)


class Discriminator(nn.Module):
  def __init__(self, arch, dropout):
    super().__init__()
    kwargs = dict(slope=arch.leaky_relu_slope, maxout_pieces=arch.maxout_pieces,
                  dropout=dropout)
    self.x_stack = Stack(arch.discriminator_x, arch.channels, **kwargs)
    self.z_stack = Stack(arch.discriminator_z, arch.latent_dim, **kwargs)
    self.joint = Stack(arch.discriminator_joint,
                       self.x_stack.out_channels + self.z_stack.out_channels,
                       activate_last=False, **kwargs)

  def forward(self, x, z):
    joint = torch.cat([self.x_stack(x), self.z_stack(z[:, :, None, None])], dim=1)
    return self.joint(joint)[:, 0, 0, 0]


def init_like_the_paper(module, std):
  """Weights N(0, std^2), biases 0 (BN scale 1), as ali_jax initialises."""
  for m in module.modules():
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
      nn.init.normal_(m.weight, 0.0, std)
      if m.bias is not None:
        nn.init.zeros_(m.bias)


class ALIStep:
  """One simultaneous update of E, G and D on a batch, as ali_jax/training/step.py does it."""

  def __init__(self, architecture, *, dropout_rate=0.2, init_std=0.01, learning_rate=1e-4,
               b1=0.5, b2=0.999, channels_last=False):
    arch = ali_architectures.ARCHITECTURES[architecture]
    self.latent_dim = arch.latent_dim
    self.encoder, self.generator = Encoder(arch), Generator(arch)
    self.discriminator = Discriminator(arch, dropout_rate)
    self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for net in self.networks():
      init_like_the_paper(net, init_std)
      net.to(memory_format=self.memory_format).train()
    adam = lambda net: torch.optim.Adam(net.parameters(), lr=learning_rate, betas=(b1, b2))
    self.optimizers = [adam(net) for net in self.networks()]

  def networks(self):
    return (self.encoder, self.generator, self.discriminator)

  def losses(self, x, z, noise):
    """(discriminator loss, generator loss) from one forward pass."""
    x = x.contiguous(memory_format=self.memory_format)
    z_hat = self.encoder(x, noise)
    x_tilde = self.generator(z)
    logits = self.discriminator(torch.cat([x, x_tilde]), torch.cat([z_hat, z]))
    real, fake = logits[:len(x)], logits[len(x):]
    d_loss = (F.softplus(-real) + F.softplus(fake)).mean()
    g_loss = (F.softplus(real) + F.softplus(-fake)).mean()  # non-saturating
    return d_loss, g_loss

  def gradients(self, x, z, noise):
    """Each player's gradient of its own loss: D of d_loss, E and G of g_loss."""
    d_loss, g_loss = self.losses(x, z, noise)
    d_params = list(self.discriminator.parameters())
    eg_params = list(self.encoder.parameters()) + list(self.generator.parameters())
    d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
    eg_grads = torch.autograd.grad(g_loss, eg_params)
    return (d_loss, g_loss), dict(zip(d_params + eg_params, d_grads + eg_grads))

  def __call__(self, x, z, noise):
    (d_loss, g_loss), grads = self.gradients(x, z, noise)
    for param, grad in grads.items():
      param.grad = grad
    for optimizer in self.optimizers:
      optimizer.step()
    return d_loss.detach(), g_loss.detach()


# ---- Parameters from ali_jax (for the equivalence test) ---------------------------

def _tensor(array):
  return torch.from_numpy(np.array(array, np.float32))  # a writable copy


def _copy_stack(stack, layers, params, batch_stats):
  """Copies a flax ConvStack's parameters (auto-named Conv_i, PaddedConvTranspose_i,
  BatchNorm_i in layer order) into `stack`."""
  counts = collections.Counter()

  def next_name(kind):
    counts[kind] += 1
    return f'{kind}_{counts[kind] - 1}'

  for layer, conv, norm in zip(layers, stack.convs, stack.norms):
    conv_params = params[next_name('PaddedConvTranspose' if layer.transposed else 'Conv')]
    kernel = np.asarray(conv_params['kernel'])  # (H, W, in, out)
    if layer.transposed:
      # ConvTranspose2d's (in, out, H, W) weight acts flipped relative to a
      # convolution over the dilated input, which is what ali_jax computes.
      conv.weight.data = _tensor(kernel[::-1, ::-1].transpose(2, 3, 0, 1))
    else:
      conv.weight.data = _tensor(kernel.transpose(3, 2, 0, 1))
    if 'bias' in conv_params:
      conv.bias.data = _tensor(conv_params['bias'])
    if layer.batch_norm:
      name = next_name('BatchNorm')
      norm.weight.data = _tensor(params[name]['scale'])
      norm.bias.data = _tensor(params[name]['bias'])
      norm.running_mean.data = _tensor(batch_stats[name]['mean'])
      norm.running_var.data = _tensor(batch_stats[name]['var'])


def copy_from_flax(step, state, arch):
  """Sets `step`'s networks to the parameters of an ali_jax TrainState."""
  enc, gen, dis = state.encoder, state.generator, state.discriminator
  _copy_stack(step.encoder.stack, arch.encoder[:-1], enc.params['ConvStack_0'],
              enc.batch_stats.get('ConvStack_0', {}))
  step.encoder.out.weight.data = _tensor(np.asarray(enc.params['Conv_0']['kernel'])
                                         .transpose(3, 2, 0, 1))
  step.encoder.out.bias.data = _tensor(enc.params['Conv_0']['bias'])
  _copy_stack(step.generator.stack, arch.generator[:-1], gen.params['ConvStack_0'],
              gen.batch_stats.get('ConvStack_0', {}))
  step.generator.out.weight.data = _tensor(np.asarray(gen.params['Conv_0']['kernel'])
                                           .transpose(3, 2, 0, 1))
  step.generator.pixel_bias.data = _tensor(np.asarray(gen.params['output_bias'])
                                           .transpose(2, 0, 1))
  for i, (stack, layers) in enumerate(((step.discriminator.x_stack, arch.discriminator_x),
                                       (step.discriminator.z_stack, arch.discriminator_z),
                                       (step.discriminator.joint, arch.discriminator_joint))):
    _copy_stack(stack, layers, dis.params[f'ConvStack_{i}'],
                dis.batch_stats.get(f'ConvStack_{i}', {}))
