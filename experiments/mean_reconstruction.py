"""Does a Gaussian encoder's mean keep x's class where its sampled code does not?

  python experiments/mean_reconstruction.py \
      --runs=baseline=runs/regulariser_study_fashion_mnist/baseline/seed_0 \
      --output=experiments/results/mean_reconstruction.md

ALI's reconstructions draw z from q(z|x) (reconstruction_class_agreement); a broad
posterior can bury a mean that carries x's class. For each run (its newest checkpoint, whose
step the table gives, with the batch-norm statistics its evaluations use) on its validation split,
the table gives the share of held-out x whose reconstruction the run's reference
classifier puts in x's class, from a sampled z and from the mean of q(z|x), beside the
posterior's mean std and the share of z's variance that the means explain
(losses.posterior_metrics). Runs made before the trainer reported
mean_reconstruction_class_agreement itself are measured here; nothing is scored on the
test split.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ and ali_jax/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

import ali_jax
from ali_jax import data
from ali_jax import losses
from ali_jax.evaluation import evaluator
from ali_jax.evaluation import metrics
from ali_jax.settings import choices
from ali_jax.settings import datasets
from experiments import launch
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('runs', [], 'NAME=WORKDIR of finished runs with a Gaussian encoder.')
flags.DEFINE_string('output', None, 'The report (.md); its record beside it.')

COLUMNS = (('reconstruction class agreement, z sampled', 'sampled', '{:.2%}'),
           ('from the mean of q(z\\|x)', 'mean', '{:.2%}'),
           ('posterior std', 'posterior_std', '{:.3f}'),
           ('posterior mean share', 'posterior_mean_share', '{:.3f}'),
           ('step', 'step', '{:d}'),
           ('trained at', 'trained_at', '{}'))


def measure(workdir):
  """The validation split's {sampled, mean, posterior_std, posterior_mean_share, step}."""
  model = ali_jax.load(workdir)
  if model.settings.model.encoder != choices.GAUSSIAN_ENCODER:
    raise ValueError(f'{workdir}: its encoder is {model.settings.model.encoder!r}; only a '
                     "'gaussian' one has a posterior mean apart from its code.")
  if not model.encoder_trained:
    raise ValueError(f'{workdir}: at step {model.step} its encoder has not been trained yet '
                     '(a GAN, or a two-phase method in its GAN phase).')
  if not model.settings.evaluation.class_metrics:
    raise ValueError(f'{workdir} was trained with evaluation.class_metrics=False: its dataset '
                     'has no reference classifier here.')
  dataset = data.load_dataset(model.config)
  references = evaluator.class_references_for_run(model.settings, dataset)
  if references is None:
    raise ValueError(f'{workdir}: its dataset ({model.settings.dataset}) has no labels.')
  references = references[datasets.VALIDATION]
  heldout = dataset.heldout(datasets.VALIDATION)
  x, y = heldout.images, heldout.conditions
  mu, sigma = model.posterior(x, y)
  posterior = losses.posterior_metrics(mu, np.log(sigma))
  sampled = references.classifier.predict(model.reconstruct(x, y, seed=model.settings.seed))
  return dict(sampled=metrics.class_agreement(sampled, references.heldout_labels),
              mean=evaluator.mean_reconstruction_class_agreement(model, mu, y, references),
              posterior_std=float(posterior['posterior_std']),
              posterior_mean_share=float(posterior['posterior_mean_share']),
              step=int(model.step))


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  if not FLAGS.runs or any('=' not in run for run in FLAGS.runs):
    raise app.UsageError(f'--runs={",".join(FLAGS.runs)}: expected NAME=WORKDIR,...')
  runs = dict(run.split('=', 1) for run in FLAGS.runs)
  numbers, lines = {}, ['| run | ' + ' | '.join(c for c, _, _ in COLUMNS) + ' |',
                        '|---|' + '---|' * len(COLUMNS)]
  for name, workdir in runs.items():
    # The sweeps' launcher records each start's commit and machine in the workdir.
    numbers[name] = dict(measure(workdir), workdir=workdir,
                         trained_at=', '.join(launch.trained_at(workdir)) or 'not recorded',
                         trained_on=', '.join(launch.trained_on(workdir)) or 'not recorded')
    lines.append(f'| {name} | ' + ' | '.join(number_format.format(numbers[name][key])
                                             for _, key, number_format in COLUMNS) + ' |')
  report = '\n\n'.join([
      '# Reconstructions from a sampled code and from the posterior\'s mean',
      reporting.provenance(recorder.commit, recorder.wall_s),
      __doc__.split('\n\n', 2)[2].strip(), '\n'.join(lines), ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, title='Reconstruction class agreement from a '
                          'sampled code and from the posterior mean', numbers=numbers)


if __name__ == '__main__':
  app.run(main)
