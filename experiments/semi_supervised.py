"""Semi-supervised classification on encoder features (docs/papers.md section 5).

  python experiments/semi_supervised.py \
      --models=ali=runs/digits,latent_regressor=runs/digits_lr \
      --output=experiments/results/semi_supervised_digits.md

The paper's L2-SVM protocol: features are the encoder's mean concatenated with
its last three hidden layers (ali_jax.TrainedModel.features); each of
--num_svms linear SVMs (sklearn LinearSVC, squared hinge) trains on a random
class-balanced set of --labels labelled examples from the label pool, with C
chosen on a validation split over exp(linspace(-20, 20, 50)); the table gives
the mean +- std test error. Raw pixels are always a baseline. It also reports
BiGAN's 1-nearest-neighbour test accuracy on E(x) (the encoder's mean) with
the whole label pool as neighbours.

The splits and label counts per dataset are in experiments/svm_protocol.py
(SPLITS): SVHN follows the paper (1,000 labels from train[0:63257], C on
train[63257:73257]); digits is the offline stand-in (100 labels from
train[:1200], C on train[1200:]).
"""
import os
import sys
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: ali_jax/ lives here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np
from sklearn import exceptions as sklearn_exceptions

import ali_jax
from ali_jax import data
from ali_jax import inference
from experiments import records
from experiments import reporting
from experiments import svm_protocol

FLAGS = flags.FLAGS
PERCENT = '{:.2%}'
flags.DEFINE_list('models', ['ali=runs/digits'],
                  'name=workdir pairs of trained runs, all on the same dataset.')
flags.DEFINE_integer('labels', None, 'Labelled examples per SVM (default: '
                     'svm_protocol.SPLITS).')
flags.DEFINE_integer('num_svms', 100, 'SVMs, each on its own random label subset.')
flags.DEFINE_integer('num_c', 50, 'Values of C in exp(linspace(-20, 20, num_c)).')
flags.DEFINE_integer('seed', 0, 'Seed of the label subsets.')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')

RAW_PIXELS = 'raw pixels'


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  models = {}
  for pair in FLAGS.models:
    name, sep, workdir = pair.partition('=')
    if not sep:
      raise app.UsageError(f'--models: {pair!r} is not name=workdir.')
    models[name] = ali_jax.load(workdir)
  config = next(iter(models.values())).config
  if any(m.config.dataset != config.dataset for m in models.values()):
    raise app.UsageError('--models: the runs are on different datasets.')
  if config.dataset not in svm_protocol.SPLITS:
    raise app.UsageError(f'No semi-supervised splits for {config.dataset!r}; '
                         f'known: {sorted(svm_protocol.SPLITS)}.')
  pool_split, valid_split, test_split, default_labels = svm_protocol.SPLITS[config.dataset]
  num_labels = FLAGS.labels or default_labels
  images, labels = {}, {}
  for part, split in (('pool', pool_split), ('valid', valid_split), ('test', test_split)):
    images[part], labels[part] = data.labelled_split(config, split)
  c_values = np.exp(np.linspace(-20, 20, FLAGS.num_c))

  rows = []
  candidates = [(RAW_PIXELS, None)] + list(models.items())
  for name, model in candidates:
    if model is None:
      svm_features = nn_features = {k: v.reshape(len(v), -1) for k, v in images.items()}
    else:
      svm_features = {k: model.features(v, hidden_layers=inference.PAPER_FEATURE_LAYERS)
                      for k, v in images.items()}
      nn_features = {k: model.features(v, hidden_layers=0) for k, v in images.items()}
    with warnings.catch_warnings():  # liblinear stops at max_iter for the largest C
      warnings.simplefilter('ignore', sklearn_exceptions.ConvergenceWarning)
      errors = svm_protocol.svm_test_errors(svm_features, labels, num_labels=num_labels,
                               num_svms=FLAGS.num_svms, c_values=c_values, seed=FLAGS.seed)
    rows.append((name, svm_features['test'].shape[1], errors,
                 svm_protocol.nearest_neighbour_accuracy(nn_features, labels),
                 nn_features['test'].shape[1]))
    print(f'{name}: SVM error {reporting.mean_std(errors, PERCENT)}; '
          f'1-NN accuracy {rows[-1][3]:.2%}', flush=True)

  sizes = {k: len(v) for k, v in labels.items()}
  table = [f'| features | SVM features | L2-SVM test error, {num_labels} labels: mean +- '
           f'sample std (ddof=1) [min, max] over {FLAGS.num_svms} SVMs | 1-NN features | '
           f'1-NN test accuracy, {sizes["pool"]} labels |', '|---|---|---|---|---|']
  for name, dims, errors, accuracy, nn_dims in rows:
    workdir = '' if name == RAW_PIXELS else f' (`{models[name].config.method}` from ' \
        f'{dict(p.split("=", 1) for p in FLAGS.models)[name]}, step {models[name].step})'
    table.append(f'| {name}{workdir} | {dims} | {reporting.mean_std(errors, PERCENT)} '
                 f'[{errors.min():.2%}, {errors.max():.2%}] | {nn_dims} | {accuracy:.2%} |')
  report = '\n\n'.join([
      f'# Semi-supervised classification: {config.dataset}',
      reporting.provenance(recorder.commit, recorder.wall_s),
      f'Label pool `{pool_split}` ({sizes["pool"]}), C chosen on `{valid_split}` '
      f'({sizes["valid"]}) over exp(linspace(-20, 20, {FLAGS.num_c})), test `{test_split}` '
      f'({sizes["test"]}). SVM features: the encoder mean and its last three hidden '
      'layers; 1-NN features: the encoder mean E(x) (raw pixels for the baseline).',
      '\n'.join(table), ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, title='L2-SVM and 1-NN on encoder features: '
                          f'{config.dataset}, {num_labels} labels', numbers={'rows': {
                              name: {'svm_test_errors': errors.tolist(), 'nn_accuracy': accuracy}
                              for name, _, errors, accuracy, _ in rows}})


if __name__ == '__main__':
  app.run(main)
