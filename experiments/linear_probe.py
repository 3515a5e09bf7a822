"""Linear-probe accuracy of a trained encoder (BigBiGAN's protocol; docs/papers.md).

  python experiments/linear_probe.py --workdirs=bigbigan=runs/bigbigan,ali=runs/ali \
      --output=experiments/results/linear_probe_fashion_mnist.md

A linear softmax classifier is trained on the frozen encoder's features of the
labelled training split of each run's dataset and tested on its held-out split
(the config's; ImageNet: validation): top-1 and top-5 accuracy. Features: the
mean of q(z|x) and the last --hidden_layers hidden layers (for BigBiGAN's
encoder the first of these is the ResNet's average pool), each standardised with
the training set's mean and std; --crelu adds BigBiGAN's "BN+CReLU" variant
[relu(f), relu(-f)] of the standardised features. The weight decay is chosen
among --weight_decays on the last --validation_fraction of the training split,
then the classifier is trained again on the whole training split. Images are
read and encoded in chunks, so the features are what must fit in memory.
"""
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: ali_jax/ lives here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

import ali_jax
from ali_jax import data
from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import datasets
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('workdirs', None, 'NAME=WORKDIR of each trained run to probe.')
flags.DEFINE_integer('hidden_layers', 0, 'Hidden layers of the encoder beside the mean of '
                     'q(z|x) (ali_jax TrainedModel.features).')
flags.DEFINE_bool('crelu', False, 'Probe [relu(f), relu(-f)] of the standardised features.')
flags.DEFINE_bool('pixels', True, 'Also probe the raw pixels of the first run\'s dataset '
                  '(the baseline row), standardised (and CReLU) as the features are.')
flags.DEFINE_list('weight_decays', ['0', '1e-4', '1e-3', '1e-2'], 'L2 weights to choose from.')
flags.DEFINE_float('validation_fraction', 0.1, 'Share of the training split that chooses '
                   'the weight decay.')
flags.DEFINE_integer('epochs', 30, 'Epochs of Adam over the training features.')
flags.DEFINE_integer('max_train_examples', 0, 'Use only the first this many training '
                     'examples (0: all).')
flags.DEFINE_integer('seed', 0, 'The probe\'s initialisation and batch order.')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')

BATCH_SIZE = 256
LEARNING_RATE = 1e-3
READ_CHUNK = 1024  # images read and encoded at a time


def labelled_features(featurise, config, split, *, limit=0):
  """(featurise(images), labels) of a TFDS split of config.dataset, read in chunks."""
  features, labels = [], []
  for chunk_images, chunk_labels in data.labelled_chunks(config, split, READ_CHUNK,
                                                        limit=limit):
    features.append(featurise(chunk_images))
    labels.append(chunk_labels)
  return np.concatenate(features), np.concatenate(labels)


def standardised(train, *others, crelu=False):
  """Every array standardised with `train`'s per-feature mean and std; with
  crelu, each then mapped to [relu(f), relu(-f)]."""
  mean, std = train.mean(0), train.std(0) + 1e-6
  arrays = [(a - mean) / std for a in (train,) + others]
  if crelu:
    arrays = [np.concatenate([np.maximum(a, 0), np.maximum(-a, 0)], axis=1) for a in arrays]
  return [a.astype(np.float32) for a in arrays]


def train_probe(features, labels, *, num_classes, weight_decay, epochs, seed):
  """(W, b) of a softmax classifier: Adam on the cross-entropy + weight_decay/2 ||W||^2."""
  params = {'w': jnp.zeros((features.shape[1], num_classes)), 'b': jnp.zeros(num_classes)}
  optimizer = optax.adam(LEARNING_RATE)
  opt_state = optimizer.init(params)

  def loss(params, x, y):
    logits = x @ params['w'] + params['b']
    return (optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
            + 0.5 * weight_decay * jnp.sum(params['w'] ** 2))

  @jax.jit
  def update(params, opt_state, x, y):
    updates, opt_state = optimizer.update(jax.grad(loss)(params, x, y), opt_state)
    return optax.apply_updates(params, updates), opt_state

  rng = np.random.default_rng(seed)
  batch = min(BATCH_SIZE, len(features))
  for _ in range(epochs):
    order = rng.permutation(len(features))
    for start in range(0, len(order) - batch + 1, batch):  # full batches: one compile
      rows = order[start:start + batch]
      params, opt_state = update(params, opt_state, features[rows], labels[rows])
  return params


def top_k_accuracy(params, features, labels, k):
  logits = np.asarray(features @ np.asarray(params['w']) + np.asarray(params['b']))
  top = np.argsort(-logits, axis=1)[:, :k]
  return float(np.mean(np.any(top == labels[:, None], axis=1)))


def probe(train, test, *, num_classes, weight_decays, validation_fraction, epochs, seed):
  """{'weight_decay', 'validation', 'top1', 'top5'} of the probe on (features, labels) pairs."""
  (train_x, train_y), (test_x, test_y) = train, test
  cut = int(round(len(train_x) * (1 - validation_fraction)))
  fit = lambda x, y, wd: train_probe(x, y, num_classes=num_classes, weight_decay=wd,
                                     epochs=epochs, seed=seed)
  validation, started = {}, time.time()
  for wd in weight_decays:
    validation[wd] = top_k_accuracy(fit(train_x[:cut], train_y[:cut], wd), train_x[cut:],
                                    train_y[cut:], 1)
    logging.info('Probe with weight decay %g: validation top-1 %.4f (%.0f s so far).', wd,
                 validation[wd], time.time() - started)
  best = max(weight_decays, key=lambda wd: (validation[wd], -wd))  # ties: the smallest
  params = fit(train_x, train_y, best)
  return dict(weight_decay=best, validation=validation,
              top1=top_k_accuracy(params, test_x, test_y, 1),
              top5=top_k_accuracy(params, test_x, test_y, min(5, num_classes)))


def probe_run(workdir, *, pixels=False):
  """The probe of one run's encoder features (pixels=True: of its dataset's raw pixels)."""
  config = workdir_lib.load_config(workdir)
  spec = datasets.SPECS.get(config.dataset)
  if spec is None or not spec.num_classes:
    raise app.UsageError(f'{workdir} trained on {config.dataset!r}, which has no class '
                         'labels to probe with.')
  model = None if pixels else ali_jax.load(workdir)  # the pixels need no checkpoint
  featurise = ((lambda x: x.reshape(len(x), -1)) if pixels else
               (lambda x: model.features(x, hidden_layers=FLAGS.hidden_layers)))
  read = lambda split, limit=0: labelled_features(featurise, config, split, limit=limit)
  train_x, train_y = read(spec.train_split, FLAGS.max_train_examples)
  test_x, test_y = read(spec.test_split)
  train_x, test_x = standardised(train_x, test_x, crelu=FLAGS.crelu)
  result = probe((train_x, train_y), (test_x, test_y), num_classes=spec.num_classes,
                 weight_decays=[float(w) for w in FLAGS.weight_decays],
                 validation_fraction=FLAGS.validation_fraction, epochs=FLAGS.epochs,
                 seed=FLAGS.seed)
  return dict(result, step='-' if pixels else model.step,
              method='-' if pixels else config.method, dimensions=train_x.shape[1],
              train_examples=len(train_x), test_examples=len(test_x))


def main(argv):
  del argv
  if not FLAGS.workdirs:
    raise app.UsageError('--workdirs=NAME=WORKDIR,... is required.')
  recorder = records.Recorder.from_flags(FLAGS)
  runs = []  # (row name, workdir, whether the row probes the raw pixels)
  for item in FLAGS.workdirs:
    name, _, workdir = item.partition('=')
    if not workdir:
      raise app.UsageError(f'--workdirs item {item!r} is not NAME=WORKDIR.')
    runs.append((name, workdir, False))
  if FLAGS.pixels:
    runs.append(('raw pixels', runs[0][1], True))
  rows, results = [], {}
  for name, workdir, pixels in runs:
    result = results[name] = probe_run(workdir, pixels=pixels)
    rows.append(f'| {name} | {result["method"]} | {result["step"]} | {result["dimensions"]} '
                f'| {result["train_examples"]} | {result["weight_decay"]:g} '
                f'| {100 * result["top1"]:.2f}% | {100 * result["top5"]:.2f}% |')
    print(rows[-1], flush=True)
  features = (f'the mean of q(z|x) and the last {FLAGS.hidden_layers} hidden layers'
              if FLAGS.hidden_layers else 'the mean of q(z|x)')
  report = '\n'.join([
      '# Linear probe on frozen encoder features', '',
      f'Features: {features}, standardised{" then [relu(f), relu(-f)]" if FLAGS.crelu else ""}'
      f'; softmax classifier, Adam {LEARNING_RATE:g}, batch {BATCH_SIZE}, {FLAGS.epochs} '
      f'epochs; weight decay chosen among {", ".join(FLAGS.weight_decays)} on the last '
      f'{FLAGS.validation_fraction:g} of the training split (experiments/linear_probe.py).', '',
      '| run | method | step | dimensions | training examples | weight decay | top-1 '
      '| top-5 |', '|---|---|---|---|---|---|---|---|', *rows, '',
      reporting.provenance(recorder.commit, recorder.wall_s), ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, title='Linear probe on frozen encoder '
                          f'features ({features})', numbers={'runs': results})


if __name__ == '__main__':
  app.run(main)
