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

from ali_jax import losses
from ali_jax.evaluation import evaluator
from ali_jax.evaluation import metrics
from ali_jax.settings import datasets
from experiments import validation_runs

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(validation_runs)  # --runs and --output

COLUMNS = (('reconstruction class agreement, z sampled', 'sampled', '{:.2%}'),
           ('from the mean of q(z\\|x)', 'mean', '{:.2%}'),
           ('posterior std', 'posterior_std', '{:.3f}'),
           ('posterior mean share', 'posterior_mean_share', '{:.3f}'),
           ('step', 'step', '{:d}'),
           ('trained at', 'trained_at', '{}'))


def measure(workdir):
  """The validation split's {sampled, mean, posterior_std, posterior_mean_share, step}."""
  model, dataset, references = validation_runs.load(workdir)
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
  validation_runs.report(
      heading='# Reconstructions from a sampled code and from the posterior\'s mean',
      doc=__doc__, measure=measure, columns=COLUMNS,
      title='Reconstruction class agreement from a sampled code and from the posterior mean')


if __name__ == '__main__':
  app.run(main)
