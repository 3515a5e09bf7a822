"""K+1-class semi-supervised ALI against its two baselines, over seeds and label counts.

  python experiments/semi_supervised_comparison.py --labels=100,1000 --seeds=0,1,2 \
      --jobs=2 --workdir=runs/semi_supervised_comparison \
      --output=experiments/results/semi_supervised_fashion_mnist.md

For each label count L and seed s, in --workdir:
  k_plus_1_<L>/seed_<s>    --config (method semi_supervised) with num_labels=L,
                           seed=s and labels_seed=s: D's classifier, test_error;
  supervised_<L>/seed_<s>  the same with method=supervised: E and D trained on
                           the L labelled examples alone;
  ali/seed_<s>             --ali_config (unsupervised ALI, once for every L),
                           then the paper's L2-SVM protocol on its encoder's
                           features with L labels (experiments/svm_protocol.py,
                           --num_svms SVMs, C chosen on its validation split).
Runs already there resume; finished ones are read, not run again
(--ali_workdirs takes finished ALI runs instead). The table gives each
method's test error per seed and its mean +- std, beside the paper's numbers
(SVHN and CIFAR-10: other datasets), with each run's wall time.
"""
import concurrent.futures
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ and ali_jax/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

import ali_jax
from ali_jax import inference
from experiments import launch
from experiments import records
from experiments import reporting
from experiments import svm_protocol

FLAGS = flags.FLAGS
flags.DEFINE_string('config', 'configs/fashion_mnist_semi_supervised.py',
                    'The semi-supervised config (its method is set per row).')
flags.DEFINE_string('ali_config', 'configs/fashion_mnist.py',
                    'The unsupervised ALI config whose encoder features the SVMs read.')
flags.DEFINE_list('ali_workdirs', [], 'Finished ALI runs, one per seed, instead of '
                  'training --ali_config.')
flags.DEFINE_list('labels', ['100', '1000'], 'Label counts.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds (each also picks its labelled subset).')
flags.DEFINE_multi_string('set', [], 'FIELD=VALUE: a config override for every run.')
flags.DEFINE_integer('jobs', 1, 'Runs trained at the same time.')
flags.DEFINE_bool('train', True, 'Train the runs that are not finished; with --notrain '
                  'the table reports the finished ones only.')
flags.DEFINE_string('workdir', 'runs/semi_supervised_comparison', 'Parent of the runs.')
flags.DEFINE_integer('num_svms', 10, 'L2-SVMs per ALI run and label count.')
flags.DEFINE_integer('num_c', 50, 'Values of C in exp(linspace(-20, 20, num_c)).')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')

K_PLUS_1 = 'K+1 semi-supervised ALI (D classifies)'
SUPERVISED = 'supervised, same E and D, labels alone'
SVM = 'L2-SVM on unsupervised ALI features'
PAPER = ('Paper (other datasets): SVHN 1,000 labels K+1 7.42 +- 0.65 %, L2-SVM on ALI '
         'features 19.14 +- 0.50 %; CIFAR-10 K+1 1,000 / 2,000 / 4,000 / 8,000 labels '
         '19.98 / 19.09 / 17.99 / 17.05 %.')


def _runs():
  """(row, labels, seed, workdir, config, overrides) of every training run."""
  common = launch.overrides_from(FLAGS.set)
  runs = []
  for seed in map(int, FLAGS.seeds):
    if not FLAGS.ali_workdirs:
      runs.append((SVM, None, seed, os.path.join(FLAGS.workdir, 'ali', f'seed_{seed}'),
                   FLAGS.ali_config, {**common, 'seed': seed}))
    for labels in map(int, FLAGS.labels):
      for row, method, name in ((K_PLUS_1, 'semi_supervised', 'k_plus_1'),
                                (SUPERVISED, 'supervised', 'supervised')):
        runs.append((row, labels, seed,
                     os.path.join(FLAGS.workdir, f'{name}_{labels}', f'seed_{seed}'),
                     FLAGS.config, {**common, 'method': method,
                                    'method_options.num_labels': labels, 'seed': seed,
                                    'method_options.labels_seed': seed}))
  return runs


def _svm_errors(ali_workdirs):
  """{(labels, seed): mean test error of --num_svms SVMs on that ALI run's features}."""
  models = {seed: ali_jax.load(w) for seed, w in zip(map(int, FLAGS.seeds), ali_workdirs)}
  config = next(iter(models.values())).config
  pool_split, valid_split, test_split, _ = svm_protocol.SPLITS[config.dataset]
  images, labels = svm_protocol.labelled_splits(config)
  c_values = np.exp(np.linspace(-20, 20, FLAGS.num_c))
  errors = {}
  for seed, model in models.items():
    features = {part: model.features(x, hidden_layers=inference.PAPER_FEATURE_LAYERS)
                for part, x in images.items()}
    for num_labels in map(int, FLAGS.labels):
      errors[num_labels, seed] = svm_protocol.mean_test_error(
          features, labels, num_labels=num_labels, num_svms=FLAGS.num_svms,
          c_values=c_values, seed=seed)
      print(f'SVM, ALI seed {seed}, {num_labels} labels: {errors[num_labels, seed]:.2%}',
            flush=True)
  return errors, (pool_split, valid_split, test_split)


def markdown_table(errors, wall_s):
  """errors: {(row, labels, seed): test error} -> rows per method and label count."""
  seeds = sorted({s for _, _, s in errors})
  lines = ['| method | labels | ' + ' | '.join(f'seed {s}' for s in seeds)
           + ' | mean +- sample std, ddof=1 (runs) | wall s per run |',
           '|---' * (len(seeds) + 4) + '|']
  for labels in sorted({n for _, n, _ in errors}):
    for row in (K_PLUS_1, SUPERVISED, SVM):
      values = [errors[row, labels, s] for s in seeds if (row, labels, s) in errors]
      if not values:
        continue
      walls = [wall_s[row, labels, s] for s in seeds if (row, labels, s) in wall_s]
      lines.append(f'| {row} | {labels:,} | ' + ' | '.join(
          f'{errors[row, labels, s]:.2%}' if (row, labels, s) in errors else '-'
          for s in seeds) + f' | {reporting.mean_std(values, "{:.2%}")} '
          f'({len(values)}) | '
          + (f'{np.mean(walls):.0f}' if walls else '-') + ' |')
  return '\n'.join(lines)


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  if FLAGS.ali_workdirs and len(FLAGS.ali_workdirs) != len(FLAGS.seeds):
    raise app.UsageError('--ali_workdirs: give one finished ALI run per seed.')
  if not FLAGS.train and not FLAGS.ali_workdirs:
    raise app.UsageError('--notrain needs --ali_workdirs (finished ALI runs).')
  runs = _runs()
  if not FLAGS.train:
    runs = [run for run in runs if launch.is_finished(run[3], run[5])]
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    results = [pool.submit(launch.train_run, config, workdir, overrides, skip_finished=True)
               for _, _, _, workdir, config, overrides in runs]
    metrics = [r.result() for r in results]
  errors, wall_s = {}, {}
  for (row, labels, seed, workdir, _, _), run_metrics in zip(runs, metrics):
    if row != SVM:
      errors[row, labels, seed] = run_metrics['test_error']
      wall_s[row, labels, seed] = launch.run_wall_s(workdir)
  ali_workdirs = FLAGS.ali_workdirs or [w for row, _, _, w, _, _ in runs if row == SVM]
  svm_errors, splits = _svm_errors(ali_workdirs)
  for (labels, seed), error in svm_errors.items():
    errors[SVM, labels, seed] = error
    wall_s[SVM, labels, seed] = launch.run_wall_s(ali_workdirs[FLAGS.seeds.index(str(seed))])
  report = '\n\n'.join([
      '# Semi-supervised classification: K+1 ALI against its baselines',
      reporting.provenance(recorder.commit, recorder.wall_s,
                           f', {FLAGS.jobs} run(s) at a time'),
      'Test error on the held-out split (each run\'s `test_error`, its config\'s '
      '`data.num_heldout` images) of: D\'s classifier, argmax D(x, E(x)) with E\'s mean '
      f'(`{FLAGS.config}`); the same E and D trained on the labels alone; and the mean '
      f'test error of {FLAGS.num_svms} L2-SVMs on unsupervised ALI\'s encoder features '
      f'(`{FLAGS.ali_config}`; labels drawn from `{splits[0]}`, C chosen on `{splits[1]}`, '
      f'tested on `{splits[2]}`). Seed s trains with config.seed=s and picks its labelled '
      'subset with labels_seed=s. Wall s: from a run\'s first TensorBoard event file to '
      'its last eval.json (the SVM rows: the ALI run\'s).',
      markdown_table(errors, wall_s), PAPER, ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(
        FLAGS.output, report, title='Semi-supervised classification: K+1 ALI against its '
        'baselines', numbers={'test_errors': [
            dict(row=row, labels=labels, seed=seed, test_error=error, wall_s=wall_s.get(
                (row, labels, seed))) for (row, labels, seed), error in errors.items()]})


if __name__ == '__main__':
  app.run(main)
