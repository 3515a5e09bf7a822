"""Times a config's training step (or its input pipeline) and prints/saves the numbers.

  python experiments/benchmark.py --config=configs/svhn.py --json=svhn.json
  python experiments/benchmark.py --config=configs/svhn.py --framework=torch
  python experiments/benchmark.py --config=configs/digits.py --mode=input

--mode=step (default) runs the trainer's own pmapped step (ali_jax/training/; the one
without the pairing diagnostic, as on all but one step of each logging window) on
batches already on the devices, so only the step is timed. Image configs use
random images of the right shape (config.data_source='fake'); the mixture uses
its own data. It reports XLA's compile time and FLOP count for the compiled
step, the median/min/max step time over --steps steps after --warmup, and the
machine's float32 matmul rate measured in the same run, so the achieved
GFLOP/s can be read as a fraction of what this machine can do. Memory: the
process's peak resident memory over the whole run (before the matmul test),
its resident memory just before the timed steps (the runtime, the state and
the compiled step: the fixed cost), and what XLA's memory_analysis() gives the
step itself (inputs, outputs, temporaries).
--framework=torch times experiments/torch_reference.py's step (image configs)
with the same harness; its FLOPs are counted by torch's FlopCounterMode.
--mode=input times the real loader alone (embedded data for digits and the
mixture; --mock_data for the TFDS datasets) in batches per second.
"""
import json
import os
import resource
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ and ali_jax/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np
from ml_collections import config_flags

from ali_jax.hosts import xla_flags
from ali_jax.settings import datasets
from experiments import reporting

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'The config to benchmark.',
                                lock_config=False)
flags.DEFINE_enum('mode', 'step', ['step', 'input'], 'Time the train step or the loader.')
flags.DEFINE_enum('framework', 'jax', ['jax', 'torch'], 'Whose step (torch: images only).')
flags.DEFINE_integer('batch_size', None, 'Global batch size (default: the config\'s).')
flags.DEFINE_integer('steps', 20, 'Timed steps (or batches).')
flags.DEFINE_integer('warmup', 3, 'Untimed steps first (after compilation).')
flags.DEFINE_bool('torch_channels_last', False, 'PyTorch: channels-last memory format.')
flags.DEFINE_bool('mock_data', False, '--mode=input: tfds.testing.mock_data for TFDS datasets.')
flags.DEFINE_string('json', None, 'Also write the results to this JSON file.')

MATMUL_SIZE = 2048


def matmul_peak_gflops(repeats=10):
  """The best float32 matmul rate of this machine (jax, MATMUL_SIZE squared)."""
  import jax
  import jax.numpy as jnp
  a = jnp.ones((MATMUL_SIZE, MATMUL_SIZE), jnp.float32)
  matmul = jax.jit(lambda a, b: a @ b)
  matmul(a, a).block_until_ready()
  best = np.inf
  for _ in range(repeats):
    start = time.perf_counter()
    matmul(a, a).block_until_ready()
    best = min(best, time.perf_counter() - start)
  return 2 * MATMUL_SIZE ** 3 / best / 1e9


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def current_rss_mb():
  """Resident memory now (Linux), or None elsewhere."""
  try:
    with open('/proc/self/status') as status:
      for line in status:
        if line.startswith('VmRSS:'):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return None


def _step_memory_mb(compiled):
  """What XLA's buffer assignment gives the compiled step, in MB: its inputs
  (the state and the batch), outputs, the outputs that reuse donated inputs'
  buffers, and temporaries (activations kept for the backward pass and
  everything else live within the step)."""
  analysis = compiled.memory_analysis()
  analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
  if analysis is None:
    return {}
  return dict(step_argument_mb=analysis.argument_size_in_bytes / 2**20,
              step_output_mb=analysis.output_size_in_bytes / 2**20,
              step_donated_output_mb=analysis.alias_size_in_bytes / 2**20,
              step_temp_mb=analysis.temp_size_in_bytes / 2**20)


def _timings(run_step, steps, warmup):
  for _ in range(warmup):
    run_step()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    run_step()
    times.append(time.perf_counter() - start)
  return np.array(times) * 1e3


def _step_results(times_ms, batch_size, gflops):
  median_s = np.median(times_ms) / 1e3
  return dict(step_ms_median=float(np.median(times_ms)), step_ms_min=float(times_ms.min()),
              step_ms_max=float(times_ms.max()), examples_per_s=batch_size / median_s,
              gflops_per_step=gflops, achieved_gflops=gflops / median_s)


def benchmark_jax_step(config):
  """The trainer's pmapped step, on batches prefetched to the devices."""
  import jax
  from ali_jax import data
  from ali_jax.hosts import devices
  from ali_jax.hosts import memory
  from ali_jax.training import run_setup
  from ali_jax.training import state as state_lib
  dataset = data.load_dataset(config)
  run = run_setup.RunSetup(config)
  state = devices.replicate(state_lib.create_train_state(run))
  memory.release(drop_compiled=True)  # as the trainer does (ali_jax/training/trainer.py)
  # The step the trainer runs on all but one step of each logging window: without the
  # pairing diagnostic's extra D call (ali_jax/training/trainer.py).
  step = run.pmapped_train_step(run.phases[0], pairing=False)
  batches = list(devices.device_batches(dataset, config.batch_size,
                                        range(FLAGS.warmup + FLAGS.steps + 1)))
  start = time.perf_counter()
  compiled = step.lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - start
  memory.release()
  rss_before_steps = current_rss_mb()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  # pmap compiles the per-device program: the step's count is that times the devices.
  gflops = float(cost['flops']) * jax.local_device_count() / 1e9
  box = {'state': state, 'i': 0}

  def run_step():
    box['state'], metrics = compiled(box['state'], batches[box['i'] % len(batches)])
    box['i'] += 1
    jax.block_until_ready((box['state'], metrics))

  times = _timings(run_step, FLAGS.steps, FLAGS.warmup)
  return dict(compile_s=compile_s, devices=jax.local_device_count(),
              device_kind=jax.devices()[0].device_kind, remat=config.model.remat,
              rss_before_steps_mb=rss_before_steps, **_step_memory_mb(compiled),
              **_step_results(times, config.batch_size, gflops))


def benchmark_torch_step(config):
  """experiments/torch_reference.py's step on random tensors of the same shapes."""
  import torch
  from torch.utils import flop_counter
  from ali_jax.models import ali_architectures
  from experiments import torch_reference
  torch.manual_seed(config.seed)
  torch.set_num_threads(os.cpu_count())
  arch = ali_architectures.ARCHITECTURES[config.model.architecture]
  o = config.optimizer
  step = torch_reference.ALIStep(config.model.architecture,
                                 dropout_rate=config.model.dropout_rate,
                                 init_std=config.model.init_std, learning_rate=o.learning_rate,
                                 b1=o.b1, b2=o.b2, channels_last=FLAGS.torch_channels_last)
  n = config.batch_size
  x = torch.rand(n, arch.channels, arch.image_size, arch.image_size)
  z, noise = torch.randn(n, arch.latent_dim), torch.randn(n, arch.latent_dim)
  rss_before_steps = current_rss_mb()
  counter = flop_counter.FlopCounterMode(display=False)
  with counter:
    step(x, z, noise)  # also the first (untimed) step
  times = _timings(lambda: step(x, z, noise), FLAGS.steps, FLAGS.warmup)
  return dict(compile_s=0.0, devices=1, device_kind='cpu', torch_version=torch.__version__,
              torch_threads=torch.get_num_threads(),
              channels_last=FLAGS.torch_channels_last, rss_before_steps_mb=rss_before_steps,
              **_step_results(times, n, counter.get_total_flops() / 1e9))


def benchmark_input(config):
  """Batches per second from the real loader, nothing else running."""
  from ali_jax import data
  context = None
  if FLAGS.mock_data:
    import tensorflow_datasets as tfds
    context = tfds.testing.mock_data(num_examples=max(10 * config.batch_size, 1000))
    context.__enter__()
  try:
    dataset = data.load_dataset(config)
    batches = dataset.batches(0, global_batch_size=config.batch_size)
    times = _timings(lambda: next(batches), FLAGS.steps, FLAGS.warmup)
  finally:
    if context is not None:
      context.__exit__(None, None, None)
  median_s = np.median(times) / 1e3
  return dict(batch_ms_median=float(np.median(times)), batch_ms_min=float(times.min()),
              batch_ms_max=float(times.max()), batches_per_s=1 / median_s,
              examples_per_s=config.batch_size / median_s, mock_data=FLAGS.mock_data)


def main(argv):
  del argv
  if FLAGS.config is None:
    raise app.UsageError('--config is required, e.g. --config=configs/svhn.py')
  xla_flags.set_flags()  # the flags main.py trains with, before jax starts
  import jax
  from ali_jax.config import validation
  config = FLAGS.config
  if FLAGS.batch_size:
    config.batch_size = FLAGS.batch_size
  is_images = config.dataset in datasets.IMAGE_DATASETS
  if FLAGS.framework == 'torch' and (not is_images or FLAGS.mode == 'input'):
    raise app.UsageError('--framework=torch times the image train step only.')
  if is_images and FLAGS.mode == 'step':
    config.data_source = 'fake'  # the step's speed does not depend on the pixels
  validation.check_config(config, device_count=jax.local_device_count())

  results = dict(config=os.path.relpath(FLAGS['config'].config_filename, REPO)
                 if FLAGS['config'].config_filename else None,
                 mode=FLAGS.mode, framework=FLAGS.framework, batch_size=config.batch_size,
                 steps=FLAGS.steps, warmup=FLAGS.warmup, jax_version=jax.__version__,
                 cpu_count=os.cpu_count(), **reporting.json_provenance())
  if FLAGS.mode == 'input':
    results.update(benchmark_input(config))
  else:
    results.update(benchmark_torch_step(config) if FLAGS.framework == 'torch'
                   else benchmark_jax_step(config))
    results['peak_rss_mb'] = peak_rss_mb()  # before the matmul test adds its own
    results['matmul_peak_gflops'] = matmul_peak_gflops()
    results['fraction_of_matmul_peak'] = (results['achieved_gflops']
                                          / results['matmul_peak_gflops'])
  results.setdefault('peak_rss_mb', peak_rss_mb())

  width = max(map(len, results))
  for key, value in results.items():
    print(f'{key:<{width}}  {value:.4g}' if isinstance(value, float)
          else f'{key:<{width}}  {value}')
  if FLAGS.json:
    reporting.write_text(FLAGS.json, json.dumps(results, indent=2))


if __name__ == '__main__':
  app.run(main)
