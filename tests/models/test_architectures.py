"""The image networks against docs/papers.md's tables: output sizes and parameter counts."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax.models import ali_architectures
from ali_jax.models import conv_layers
from ali_jax.models import registry
from ali_jax.settings import run_settings

# docs/papers.md section 3, transcribed with each table's "out" column: (layer, out).
TABLES = {
    'svhn': dict(
        encoder=[('c5/1/32 bn', 28), ('c4/2/64 bn', 13), ('c4/1/128 bn', 10),
                 ('c4/2/256 bn', 4), ('c4/1/512 bn', 1), ('c1/1/512 bn', 1), ('c1/1/512', 1)],
        generator=[('t4/1/256 bn', 4), ('t4/2/128 bn', 10), ('t4/1/64 bn', 13),
                   ('t4/2/32 bn', 28), ('t5/1/32 bn', 32), ('c1/1/32 bn', 32), ('c1/1/3', 32)],
        discriminator_x=[('c5/1/32', 28), ('c4/2/64 bn', 13), ('c4/1/128 bn', 10),
                         ('c4/2/256 bn', 4), ('c4/1/512 bn', 1)],
        discriminator_z=[('c1/1/512', 1), ('c1/1/512', 1)],
        discriminator_joint=[('c1/1/1024', 1), ('c1/1/1024', 1), ('c1/1/1', 1)]),
    'celeba': dict(
        encoder=[('c2/1/64 bn', 63), ('c7/2/128 bn', 29), ('c5/2/256 bn', 13),
                 ('c7/2/256 bn', 4), ('c4/1/512 bn', 1), ('c1/1/512', 1)],
        generator=[('t4/1/512 bn', 4), ('t7/2/256 bn', 13), ('t5/2/256 bn', 29),
                   ('t7/2/128 bn', 63), ('t2/1/64 bn', 64), ('c1/1/3', 64)],
        discriminator_x=[('c2/1/64', 63), ('c7/2/128 bn', 29), ('c5/2/256 bn', 13),
                         ('c7/2/256 bn', 4), ('c4/1/512 bn', 1)],
        discriminator_z=[('c1/1/1024', 1), ('c1/1/1024', 1)],
        discriminator_joint=[('c1/1/2048', 1), ('c1/1/2048', 1), ('c1/1/1', 1)]),
    'imagenet64': dict(
        encoder=[('c4/2/64 bn', 31), ('c4/1/64 bn', 28), ('c4/2/128 bn', 13),
                 ('c4/1/128 bn', 10), ('c4/2/256 bn', 4), ('c4/1/256 bn', 1),
                 ('c1/1/2048 bn', 1), ('c1/1/2048 bn', 1), ('c1/1/512', 1)],
        generator=[('c1/1/2048 bn', 1), ('c1/1/256 bn', 1), ('t4/1/256 bn', 4),
                   ('t4/2/128 bn', 10), ('t4/1/128 bn', 13), ('t4/2/64 bn', 28),
                   ('t4/1/64 bn', 31), ('t4/2/64 bn', 64), ('c1/1/3', 64)],
        discriminator_x=[('c4/2/64', 31), ('c4/1/64 bn', 28), ('c4/2/128 bn', 13),
                         ('c4/1/128 bn', 10), ('c4/2/256 bn', 4), ('c4/1/256 bn', 1)],
        discriminator_z=[('c1/1/2048', 1), ('c1/1/2048', 1)],
        discriminator_joint=[('c1/1/4096', 1), ('c1/1/4096', 1), ('c1/1/1', 1)]),
}
# CIFAR-10: SVHN's encoder with 2 x 64 latents and generator; a maxout D
# (channels before maxout, halved after it).
TABLES['cifar10'] = dict(
    TABLES['svhn'], encoder=TABLES['svhn']['encoder'][:-1] + [('c1/1/128', 1)],
    discriminator_x=[('c5/1/32 drop0.2', 28), ('c4/2/64 drop0.5', 13),
                     ('c4/1/128 drop0.5', 10), ('c4/2/256 drop0.5', 4),
                     ('c4/1/512 drop0.5', 1)],
    discriminator_z=[('c1/1/512 drop0.2', 1), ('c1/1/512 drop0.5', 1)],
    discriminator_joint=[('c1/1/1024 drop0.5', 1), ('c1/1/1024 drop0.5', 1),
                         ('c1/1/1 drop0.5', 1)])
JOINT_INPUT = {'svhn': 1024, 'cifar10': 512, 'celeba': 1536, 'imagenet64': 2304}


@pytest.mark.parametrize('name', sorted(TABLES))
def test_layers_and_output_sizes_match_the_table(name):
  arch = ali_architectures.ARCHITECTURES[name]
  for network, rows in TABLES[name].items():
    assert getattr(arch, network) == ali_architectures.parse([layer for layer, _ in rows])
    assert arch.sizes(network) == [out for _, out in rows], network


def _table_params(rows, in_channels, pieces=1, last='bias'):
  """Parameters of a table's layers: weights, a bias without BN, BN scale and shift."""
  total = 0
  for i, (text, _) in enumerate(rows):
    layer = ali_architectures.parse_layer(text)
    total += layer.kernel ** 2 * in_channels * layer.features
    is_last = i == len(rows) - 1
    if layer.batch_norm:
      total += 2 * layer.features
    elif not (is_last and last == 'pixel_bias'):
      total += layer.features
    in_channels = layer.features // pieces if not is_last else layer.features
  return total


def expected_param_counts(name, condition_dim=0):
  """Counts from the tables alone (and the paper's conditional embeddings)."""
  table, arch = TABLES[name], ali_architectures.ARCHITECTURES[name]
  pieces = arch.maxout_pieces
  embedding = (condition_dim * 256 + 256) if condition_dim else 0
  encoder = _table_params(table['encoder'][:-1], arch.channels)
  last_in = ali_architectures.parse_layer(table['encoder'][-2][0]).features + (
      256 if condition_dim else 0)
  last = ali_architectures.parse_layer(table['encoder'][-1][0])
  encoder += last_in * last.features + last.features + embedding
  generator = _table_params(table['generator'], arch.latent_dim + (256 if condition_dim else 0),
                            last='pixel_bias')
  generator += arch.image_size ** 2 * arch.channels + embedding  # the per-pixel bias
  d_x = _table_params(table['discriminator_x'], arch.channels, pieces)
  d_z = _table_params(table['discriminator_z'], arch.latent_dim, pieces)
  x_out = ali_architectures.parse_layer(table['discriminator_x'][-1][0]).features // pieces
  z_out = ali_architectures.parse_layer(table['discriminator_z'][-1][0]).features // pieces
  assert x_out + z_out == JOINT_INPUT[name]  # the tables' D_xz input width
  d_joint = _table_params(table['discriminator_joint'],
                          x_out + z_out + (256 if condition_dim else 0), pieces)
  return {'encoder': encoder, 'generator': generator,
          'discriminator': d_x + d_z + d_joint + embedding}


def test_svhn_encoder_count_by_hand():
  # c5/1/32 BN ... c1/1/512 BN, c1/1/512 + bias: worked out once in full.
  by_hand = (5 * 5 * 3 * 32 + 64 + 16 * 32 * 64 + 128 + 16 * 64 * 128 + 256
             + 16 * 128 * 256 + 512 + 16 * 256 * 512 + 1024 + 512 * 512 + 1024
             + 512 * 512 + 512)
  assert expected_param_counts('svhn')['encoder'] == by_hand == 3_315_488


def _model_settings(name, condition_dim=0):
  arch = ali_architectures.ARCHITECTURES[name]
  return run_settings.ModelSettings(
      architecture=name, latent_dim=arch.latent_dim, encoder='gaussian', init_std=0.01,
      dropout_rate=0.2, condition_dim=condition_dim, condition_embedding=256,
      conv_implementation='auto', dtype='float32', prior='gaussian', encoder_sigma='exp',
      remat='none', discriminator_batches='joint')


@pytest.mark.parametrize('name', sorted(TABLES))
def test_modules_have_the_tables_shapes_and_parameters(name):
  arch = ali_architectures.ARCHITECTURES[name]
  nets = registry.build_networks(_model_settings(name), data_shape=(
      arch.image_size, arch.image_size, arch.channels))
  x = jnp.zeros((2, arch.image_size, arch.image_size, arch.channels))
  z = jnp.zeros((2, arch.latent_dim))
  count = lambda v: sum(a.size for a in jax.tree.leaves(v['params']))
  counts = {}
  for net_name, net, inputs, shape in (
      ('encoder', nets.encoder, (x, z), (2, arch.latent_dim)),
      ('generator', nets.generator, (z,), x.shape),
      ('discriminator', nets.discriminator, (x, z), (2,))):
    variables = jax.eval_shape(functools.partial(net.init, train=False),
                               jax.random.PRNGKey(0), *inputs)
    out = jax.eval_shape(functools.partial(net.apply, train=False), variables, *inputs)
    assert out.shape == shape, net_name
    counts[net_name] = count(variables)
  assert counts == expected_param_counts(name)


def _conv_shapes():
  """(transposed, kernel, stride, input size) of every conv and transposed conv of the
  paper's networks (the formulations differ in how they handle space; channels
  are reshaped generically and tested small)."""
  shapes = set()
  for name in sorted(TABLES):
    arch = ali_architectures.ARCHITECTURES[name]
    for stack, size in ((arch.encoder, arch.image_size), (arch.generator, 1),
                        (arch.discriminator_x, arch.image_size)):
      for layer in stack:
        shapes.add((layer.transposed, layer.kernel, layer.stride, size))
        size = layer.output_size(size)
  return sorted(shapes)


# Input channels: an RGB image's, and more than conv_layers.COL2IM_MAX_CHANNELS
# (per_shape computes the input gradient differently for the two).
@pytest.mark.parametrize('channels', (3, conv_layers.COL2IM_MAX_CHANNELS + 1))
@pytest.mark.parametrize('transposed, kernel, stride, size', _conv_shapes())
def test_conv_formulations_equal_flax(transposed, kernel, stride, size, channels):
  """Outputs and gradients (input and parameters) of every formulation equal flax's layer."""
  shape = dict(features=4, kernel_size=(kernel,) * 2, strides=(stride,) * 2, use_bias=True)
  reference = (nn.ConvTranspose if transposed else nn.Conv)(padding='VALID', **shape)
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, channels))
  variables = reference.init(jax.random.PRNGKey(1), x)
  variables = jax.tree.map(lambda a: a + 0.1, variables)  # a non-zero bias too
  loss = lambda module: lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)))
  theirs = jax.grad(loss(reference), argnums=(0, 1))(variables, x)
  # float32 sums in another order: compare whole arrays by relative norm.
  close = lambda a, b: np.linalg.norm(a - b) <= 1e-5 * np.linalg.norm(b)
  # Each formulation of this layer once (several IMPLEMENTATIONS share one).
  kinds = {pair[int(transposed)] for pair in conv_layers.IMPLEMENTATIONS.values()}
  for implementation in sorted(kinds):
    mine = (conv_layers.ConvTranspose if transposed else conv_layers.Conv)(
        implementation=implementation, **shape)
    assert close(mine.apply(variables, x), reference.apply(variables, x)), implementation
    ours = jax.grad(loss(mine), argnums=(0, 1))(variables, x)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
      assert close(a, b), (implementation, a.shape,
                           np.linalg.norm(a - b) / np.linalg.norm(b))
