"""Where a train step's time goes: each layer of an image architecture, jax vs PyTorch.

  python experiments/layer_benchmark.py --architecture=svhn --json=layers.json

Times forward + backward (gradients of the parameters and the input) of every
[dropout] -> conv -> [batch norm] -> activation block of the encoder, the
generator and D(x), alone, at the batch size it sees in the train step (the
discriminator sees the joint batch: twice the batch). jax runs ali_jax's own
ConvStack (model.conv_implementation picks the formulation); --framework=torch
runs experiments/torch_reference.py's Stack. The sum over layers is not the
step time (the step also has D(z), the joint layers, losses and Adam), but the
per-layer ratio shows which layers a formulation wins or loses.
"""
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: ali_jax/ and experiments/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

from ali_jax.hosts import xla_flags
from ali_jax.models import ali_architectures
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_string('architecture', 'svhn', 'A key of ali_jax/models/ali_architectures.py.')
flags.DEFINE_list('frameworks', ['jax', 'torch'], 'Whose layers to time.')
flags.DEFINE_string('conv_implementation', 'auto', 'jax: model.conv_implementation.')
flags.DEFINE_integer('batch_size', 100, 'The train step\'s batch (D sees twice it).')
flags.DEFINE_float('dropout_rate', 0.2, 'D\'s default input dropout (configs/common.py).')
flags.DEFINE_integer('steps', 10, 'Timed repetitions per layer (median reported).')
flags.DEFINE_string('json', None, 'Also write the results to this JSON file.')

NETWORKS = ('encoder', 'generator', 'discriminator_x')


def layer_cases(arch, batch_size):
  """(network, index, layer, input shape NHWC, dropout rate or None, maxout pieces) per
  timed layer."""
  cases = []
  for network in NETWORKS:
    layers = getattr(arch, network)
    if network == 'generator':
      size, channels = 1, arch.latent_dim
    else:
      size, channels = arch.image_size, arch.channels
    is_discriminator = network == 'discriminator_x'
    batch = 2 * batch_size if is_discriminator else batch_size
    pieces = arch.maxout_pieces if is_discriminator else 1
    for index, layer in enumerate(layers):
      dropout = None
      if is_discriminator:
        dropout = FLAGS.dropout_rate if layer.dropout is None else layer.dropout
      cases.append((network, index, layer, (batch, size, size, channels), dropout, pieces))
      size, channels = layer.output_size(size), layer.features // pieces
  return cases


def _median_ms(run, steps):
  run()
  run()  # compiled and warm
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return float(np.median(times) * 1e3)


def time_jax(arch, layer, shape, dropout, pieces):
  import jax
  import jax.numpy as jnp
  from ali_jax.models import conv_layers
  from ali_jax.models import ali_networks
  stack = ali_networks.ConvStack(
      (layer,), arch.leaky_relu_slope, 0.01, maxout_pieces=pieces, input_dropout=dropout,
      conv_implementation=conv_layers.resolve_implementation(FLAGS.conv_implementation))
  x = jax.random.uniform(jax.random.PRNGKey(0), shape)
  variables = stack.init(jax.random.PRNGKey(1), x, train=False)
  out_shape = jax.eval_shape(lambda v, x: stack.apply(v, x, train=False), variables, x).shape
  cotangent = jax.random.normal(jax.random.PRNGKey(2), out_shape)

  def loss(params, x):
    y, _ = stack.apply({**variables, 'params': params}, x, train=True,
                       mutable=['batch_stats', 'intermediates'],
                       rngs={'dropout': jax.random.PRNGKey(3)})
    return jnp.vdot(y, cotangent)

  grads = jax.jit(jax.grad(loss, argnums=(0, 1)))
  return _median_ms(lambda: jax.block_until_ready(grads(variables['params'], x)),
                    FLAGS.steps)


def time_torch(arch, layer, shape, dropout, pieces):
  import torch
  from experiments import torch_reference
  torch.set_num_threads(os.cpu_count())
  n, height, width, channels = shape
  stack = torch_reference.Stack((layer,), channels, slope=arch.leaky_relu_slope,
                                maxout_pieces=pieces, dropout=dropout)
  stack.train()
  x = torch.rand(n, channels, height, width, requires_grad=True)
  cotangent = torch.randn_like(stack(x))
  parameters = [x] + list(stack.parameters())

  def run():
    torch.autograd.grad((stack(x) * cotangent).sum(), parameters)

  return _median_ms(run, FLAGS.steps)


def layer_name(layer):
  kind = 't' if layer.transposed else 'c'
  return f'{kind}{layer.kernel}/{layer.stride}/{layer.features}' + (' bn' if layer.batch_norm
                                                                   else '')


def main(argv):
  del argv
  xla_flags.set_flags()  # the flags main.py trains with, before jax starts
  arch = ali_architectures.ARCHITECTURES[FLAGS.architecture]
  timers = {'jax': time_jax, 'torch': time_torch}
  rows = []
  for network, index, layer, shape, dropout, pieces in layer_cases(arch, FLAGS.batch_size):
    row = dict(network=network, index=index, layer=layer_name(layer), input_shape=shape,
               dropout=dropout)
    for framework in FLAGS.frameworks:
      row[f'{framework}_ms'] = timers[framework](arch, layer, shape, dropout, pieces)
    rows.append(row)
    print(' | '.join(f'{v:.1f}' if isinstance(v, float) else str(v) for v in row.values()),
          flush=True)
  totals = {f: sum(r[f'{f}_ms'] for r in rows) for f in FLAGS.frameworks}
  print('totals (ms):', ', '.join(f'{f} {t:.1f}' for f, t in totals.items()))
  if FLAGS.json:
    results = dict(architecture=FLAGS.architecture, batch_size=FLAGS.batch_size,
                   conv_implementation=FLAGS.conv_implementation, cpu_count=os.cpu_count(),
                   layers=rows, totals_ms=totals, **reporting.json_provenance())
    reporting.write_text(FLAGS.json, json.dumps(results, indent=2))


if __name__ == '__main__':
  app.run(main)
