"""Trains one config over several seeds and writes a markdown table of its metrics.

  python experiments/seeds.py --config=configs/fashion_mnist.py --seeds=0,1,2 \
      --workdir=runs/fashion_mnist_seeds --output=experiments/results/seeds_fashion_mnist.md \
      --figures_dir=experiments/results

Each seed is `main.py --config=CONFIG --config.seed=N` in <workdir>/seed_<N>
(--jobs at a time, each its own process), so a run that is started again
resumes, and a finished one is only re-evaluated. --set FIELD=VALUE overrides
a config field of every seed. The table gives every seed's metrics (the
dataset's own columns) with their median, mean and sample std (ddof=1), and the command, the
commit and the wall time that made it; --figures_dir gets seed 0's images,
named <config>_<image>.png, and eval.json.
"""
import concurrent.futures
import os
import shutil
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ (and ali_jax/) live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

from experiments import launch
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_string('config', 'configs/mixture.py', 'The config file every seed trains.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds to train.')
flags.DEFINE_multi_string('set', [], 'FIELD=VALUE: a config override for every seed.')
flags.DEFINE_integer('jobs', 1, 'Seeds trained at the same time.')
flags.DEFINE_string('workdir', None, 'Parent of the per-seed workdirs '
                    '(default: runs/<config name>_seeds).')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')
flags.DEFINE_string('figures_dir', None, "Where to copy seed 0's images and eval.json.")

MIXTURE_COLUMNS = ('modes_covered', 'modes_covered_high_quality', 'high_quality_fraction',
                   'reconstruction_same_mode_fraction', 'reconstruction_mse',
                   'latent_frechet_distance', 'mode_kl_to_uniform')
IMAGE_COLUMNS = ('encoder_1nn_accuracy', 'pixel_1nn_accuracy',
                 'reconstruction_class_agreement', 'sample_class_kl_to_uniform',
                 'classifier_score', 'classifier_frechet_distance', 'reconstruction_ratio',
                 'reconstruction_mse', 'reference_classifier_test_accuracy',
                 # appended, so the columns of earlier records keep their indices
                 'mean_reconstruction_class_agreement', 'pairing_accuracy', 'posterior_std')


def markdown_table(rows):
  """rows: {seed: metrics (with wall_s)} -> a markdown table with summary lines.

  The columns are the mixture's, or the image metrics that the runs report.
  """
  first = next(iter(rows.values()))
  columns = (MIXTURE_COLUMNS if 'modes_covered' in first
             else tuple(c for c in IMAGE_COLUMNS if c in first))
  lines = ['| seed | ' + ' | '.join(columns) + ' | step | wall s |',
           '|---' * (len(columns) + 3) + '|']
  for seed, metrics in rows.items():
    lines.append(f'| {seed} | ' + ' | '.join(f'{metrics[c]:.4g}' for c in columns)
                 + f' | {metrics["step"]} | {metrics["wall_s"]:.0f} |')
  for name, reduce in (('median', np.median), ('mean', np.mean),
                       ('std (ddof=1)', reporting.sample_std)):
    values = [reduce([m[c] for m in rows.values()]) for c in columns]
    wall = reduce([m['wall_s'] for m in rows.values()])
    lines.append(f'| **{name}** | ' + ' | '.join(f'{v:.4g}' for v in values)
                 + f' | | {wall:.0f} |')
  return '\n'.join(lines)


def train_seed(seed, workdir):
  """Runs main.py for one seed; returns its eval.json with the wall time of this call."""
  overrides = launch.overrides_from(FLAGS.set)
  start = time.time()
  metrics = launch.train_run(FLAGS.config, workdir, {**overrides, 'seed': seed})
  return dict(metrics, wall_s=time.time() - start)


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  name = os.path.splitext(os.path.basename(FLAGS.config))[0]
  parent = FLAGS.workdir or os.path.join('runs', f'{name}_seeds')
  seeds = [int(s) for s in FLAGS.seeds]
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    futures = {seed: pool.submit(train_seed, seed, os.path.join(parent, f'seed_{seed}'))
               for seed in seeds}
    rows = {seed: future.result() for seed, future in futures.items()}
  # The overrides name what was trained (a method, a split read): a title without them
  # would name only the networks.
  title = f'{name}{" with " + ", ".join(FLAGS.set) if FLAGS.set else ""}: {len(rows)} seeds'
  report = '\n\n'.join([
      f'# {title}',
      reporting.provenance(recorder.commit, recorder.wall_s,
                           f', {FLAGS.jobs} run(s) at a time'),
      'Wall s: each run from start to its final evaluation (a resumed run: since its '
      'resumption).',
      markdown_table(rows), ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, title=title,
                          numbers={'by_seed': {str(s): m for s, m in rows.items()}})
  if FLAGS.figures_dir:
    source = os.path.join(parent, f'seed_{seeds[0]}')
    os.makedirs(FLAGS.figures_dir, exist_ok=True)
    eval_copy = os.path.join(FLAGS.figures_dir, f'run_{name}_eval.json')
    shutil.copy(os.path.join(source, 'eval.json'), eval_copy)
    images = os.path.join(source, 'images')
    copies = []
    for image in sorted(os.listdir(images)):
      copies.append(os.path.join(FLAGS.figures_dir, f'run_{name}_{image}'))
      shutil.copy(os.path.join(images, image), copies[-1])
    recorder.write_record(eval_copy, title=f'{name}, seed {seeds[0]}: eval.json and figures',
                          numbers=rows[seeds[0]], outputs=copies)


if __name__ == '__main__':
  app.run(main)
