"""Runs experiments/benchmark.py over the README's cases and writes one markdown table.

  python experiments/benchmark_table.py --output_dir=experiments/results/benchmarks

Each case runs in its own process (so peak memory is its own) and leaves its
JSON in --output_dir; benchmarks.md there holds the table, the commit and the
commands. Run it on an otherwise idle machine: the numbers are wall times.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from experiments import records

FLAGS = flags.FLAGS
flags.DEFINE_string('output_dir', 'experiments/results/benchmarks', 'Where to write.')
flags.DEFINE_integer('steps', 20, 'Timed steps per case.')
flags.DEFINE_list('only', None, 'Run only these case names.')

# name -> benchmark.py flags
CASES = {
    'mixture': ['--config=configs/mixture.py'],
    'digits': ['--config=configs/digits.py'],
    'digits_padded': ['--config=configs/digits.py', '--config.model.conv_implementation=padded'],
    'digits_phase_all': ['--config=configs/digits.py',
                         '--config.model.conv_implementation=phase_all'],
    'digits_torch': ['--config=configs/digits.py', '--framework=torch'],
    'digits_bfloat16': ['--config=configs/digits.py', '--config.model.dtype=bfloat16'],
    'digits_remat_elementwise': ['--config=configs/digits.py',
                                 '--config.model.remat=elementwise'],
    'svhn': ['--config=configs/svhn.py'],
    'svhn_plain': ['--config=configs/svhn.py', '--config.model.conv_implementation=plain'],
    'svhn_padded': ['--config=configs/svhn.py', '--config.model.conv_implementation=padded'],
    'svhn_phase': ['--config=configs/svhn.py', '--config.model.conv_implementation=phase'],
    'svhn_phase_space_to_depth': [
        '--config=configs/svhn.py', '--config.model.conv_implementation=phase_space_to_depth'],
    'svhn_phase_all': ['--config=configs/svhn.py', '--config.model.conv_implementation=phase_all'],
    'svhn_per_shape': ['--config=configs/svhn.py', '--config.model.conv_implementation=per_shape'],
    'svhn_remat_elementwise': ['--config=configs/svhn.py', '--config.model.remat=elementwise'],
    'svhn_torch': ['--config=configs/svhn.py', '--framework=torch'],
    'svhn_torch_channels_last': ['--config=configs/svhn.py', '--framework=torch',
                                 '--torch_channels_last'],
    'digits_input': ['--config=configs/digits.py', '--mode=input', '--steps=200'],
    'fashion_mnist': ['--config=configs/fashion_mnist.py'],
    'fashion_mnist_plain': ['--config=configs/fashion_mnist.py',
                            '--config.model.conv_implementation=plain'],
}


# benchmark.py's memory results, in the table's order.
MEMORY_COLUMNS = ('peak_rss_mb', 'rss_before_steps_mb', 'step_argument_mb', 'step_temp_mb')


def _megabytes(r, key):
  return f'{r[key]:.0f}' if r.get(key) is not None else ''


def _row(name, r):
  memory = ' | '.join(_megabytes(r, key) for key in MEMORY_COLUMNS)
  if r['mode'] == 'input':
    return (f'| {name} | input pipeline | {r["batch_ms_median"]:.2f} ms/batch | '
            f'{r["examples_per_s"]:,.0f} | | | {memory} |')
  return (f'| {name} | {r["framework"]} | {r["step_ms_median"]:.1f} '
          f'[{r["step_ms_min"]:.1f}, {r["step_ms_max"]:.1f}] | {r["examples_per_s"]:,.0f} | '
          f'{r["gflops_per_step"]:.1f} | {r["achieved_gflops"]:.1f} '
          f'({r["fraction_of_matmul_peak"]:.0%} of {r["matmul_peak_gflops"]:.0f}) | '
          f'{memory} |')


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  rows, commands, cases = [], [], {}
  for name, case_flags in CASES.items():
    if FLAGS.only and name not in FLAGS.only:
      continue
    path = os.path.join(FLAGS.output_dir, f'{name}.json')
    command = [sys.executable, 'experiments/benchmark.py', *case_flags,
               f'--json={path}'] + ([] if any(f.startswith('--steps') for f in case_flags)
                                    else [f'--steps={FLAGS.steps}'])
    print(' '.join(command[1:]), flush=True)
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    with open(os.path.join(REPO, path) if not os.path.isabs(path) else path) as f:
      results = json.load(f)
    rows.append(_row(name, results))
    cases[name] = results
    commands.append('python ' + ' '.join(command[1:]))
    print(rows[-1], flush=True)
  commit = results['commit'] if rows else 'unknown'
  report = '\n\n'.join([
      '# Benchmarks', f'Commit `{commit}`, {os.cpu_count()} CPU cores; made by `python '
      f'{" ".join(sys.argv)}`. Batch 100 (the configs\'); step times are the median '
      '[min, max] of the timed steps after warm-up.',
      'Memory in MB: the process\'s peak resident memory; its resident memory just before '
      'the timed steps (runtime, state, compiled step); and what XLA\'s memory_analysis() '
      'gives the jax step: its inputs (state and batch; the new state reuses their buffers) '
      'and its temporaries.',
      '| case | framework | ms/step | examples/s | GFLOP/step | achieved GFLOP/s '
      '(% of matmul peak) | peak RSS | RSS before steps | XLA step inputs | XLA step '
      'temporaries |\n|---|---|---|---|---|---|---|---|---|---|\n' + '\n'.join(rows),
      '## Commands\n\n' + '\n'.join(f'    {c}' for c in commands), ''])
  recorder.write_report(os.path.join(FLAGS.output_dir, 'benchmarks.md'), report,
                        title='Step time and memory of the configs, jax and PyTorch',
                        numbers={'cases': cases},
                        outputs=[os.path.join(FLAGS.output_dir, f'{n}.json') for n in cases])
  print(report)


if __name__ == '__main__':
  app.run(main)
