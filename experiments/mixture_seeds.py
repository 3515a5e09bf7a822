"""Trains a mixture config over several seeds and writes a markdown table of its metrics.

  python experiments/mixture_seeds.py --config=configs/mixture.py --seeds=0,1,2 \
      --workdir=runs/mixture_seeds --output=experiments/results/mixture_seeds.md

Each seed trains in <workdir>/seed_<n> (and resumes there if run again). The
table gives every seed's numbers and their median, mean and std, with the
command, the commit and the wall time that made it.
"""
import os
import sys
import time

# Run from a checkout: the configs (and, uninstalled, ali_jax) live beside this folder.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging
import numpy as np
from ml_collections import config_flags

from ali_jax import train
from experiments import reporting

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', 'configs/mixture.py', 'A mixture config.',
                                lock_config=False)
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds to train.')
flags.DEFINE_string('workdir', 'runs/mixture_seeds', 'Parent of the per-seed workdirs.')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')

COLUMNS = ('modes_covered', 'modes_covered_high_quality', 'high_quality_fraction',
           'reconstruction_same_mode_fraction', 'reconstruction_mse',
           'latent_frechet_distance', 'mode_kl_to_uniform')


def markdown_table(rows):
  """rows: {seed: metrics} -> a markdown table with summary lines."""
  lines = ['| seed | ' + ' | '.join(COLUMNS) + ' | wall s |',
           '|---' * (len(COLUMNS) + 2) + '|']
  for seed, metrics in rows.items():
    lines.append(f'| {seed} | ' + ' | '.join(f'{metrics[c]:.4g}' for c in COLUMNS)
                 + f' | {metrics["wall_s"]:.0f} |')
  for name, reduce in (('median', np.median), ('mean', np.mean), ('std', np.std)):
    values = [reduce([m[c] for m in rows.values()]) for c in COLUMNS + ('wall_s',)]
    lines.append(f'| **{name}** | ' + ' | '.join(f'{v:.4g}' for v in values) + ' |')
  return '\n'.join(lines)


def main(argv):
  del argv
  rows, commit = {}, reporting.git_commit()
  for seed in map(int, FLAGS.seeds):
    config = FLAGS.config.copy_and_resolve_references()
    config.seed = seed
    start = time.time()
    metrics = train.train_and_evaluate(config, os.path.join(FLAGS.workdir, f'seed_{seed}'))
    rows[seed] = dict(metrics, wall_s=time.time() - start)
    logging.info('seed %d: %s', seed, rows[seed])
  report = '\n\n'.join([
      f'# {os.path.basename(sys.argv[0])}: {len(rows)} seeds',
      reporting.provenance(commit, sum(r['wall_s'] for r in rows.values())),
      markdown_table(rows), ''])
  print(report)
  if FLAGS.output:
    reporting.write_text(FLAGS.output, report)


if __name__ == '__main__':
  app.run(main)
