"""Do E's codes fill the prior that G's samples are drawn from?

  python experiments/code_coverage.py \
      --runs=alice_cycle_100=runs/regulariser_study_fashion_mnist/alice_cycle_100/seed_0 \
      --output=experiments/results/code_coverage.md

G(z) is sampled with z from the prior, but with a reconstruction term (ALICE's cycle) G
learns to decode E's codes, wherever those lie. If E's means do not spread over the prior
as N(0, I) does, the prior's samples land where G was taught little, and the samples'
class balance suffers for it, not G's decoding. For each run (its newest checkpoint, with
the batch-norm statistics its evaluations use) on its validation split, the table gives how
E's means mu(x) spread (the range of their per-dimension std and of their covariance's
eigenvalues; the prior's are all 1, and the Frechet distance of a Gaussian fitted to them
from N(0, I)), and the reference classifier's class KL to uniform of G(z) for z drawn three
ways: from the prior (the trainer's `sample_class_kl_to_uniform`, the same draw), from that
fitted Gaussian, and the codes mu(x) themselves. A prior KL well above the fitted one says
that E's codes, not G, cost the samples their balance. Nothing is read on the test split.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ and ali_jax/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

from ali_jax.evaluation import metrics
from ali_jax.settings import datasets
from experiments import validation_runs

FLAGS = flags.FLAGS
flags.adopt_module_key_flags(validation_runs)  # --runs and --output

COLUMNS = (('std of mu per dimension: min', 'code_std_min', '{:.2f}'),
           ('median', 'code_std_median', '{:.2f}'),
           ('max', 'code_std_max', '{:.2f}'),
           ('covariance eigenvalues: min', 'code_eigenvalue_min', '{:.3f}'),
           ('max', 'code_eigenvalue_max', '{:.1f}'),
           ('Frechet distance to N(0, I)', 'code_frechet_distance', '{:.1f}'),
           ('class KL of G(z): z from the prior', 'kl_prior', '{:.3f}'),
           ('z from the fitted Gaussian', 'kl_fitted', '{:.3f}'),
           ('z = mu(x)', 'kl_codes', '{:.3f}'),
           ('step', 'step', '{:d}'),
           ('trained at', 'trained_at', '{}'))


def measure(workdir):
  """The validation split's numbers of COLUMNS for the run in `workdir`."""
  model, dataset, references = validation_runs.load(workdir)
  heldout = dataset.heldout(datasets.VALIDATION)
  if heldout.conditions is not None:
    raise ValueError(f'{workdir}: a conditional model; its codes are not compared with one '
                     'prior here.')
  mu, _ = model.posterior(heldout.images)
  class_kl = lambda images: metrics.kl_to_uniform(references.classifier.predict(images),
                                                  references.classifier.num_classes)
  seed = model.settings.seed
  # The trainer's draw: settings.evaluation.num_eval_samples samples at the run's seed.
  count = model.settings.evaluation.num_eval_samples
  covariance = np.cov(mu, rowvar=False)
  fitted = np.random.default_rng(seed).multivariate_normal(
      mu.mean(0), covariance, count).astype(np.float32)
  std = mu.std(0)
  eigenvalues = np.linalg.eigvalsh(covariance)
  return dict(code_std_min=float(std.min()), code_std_median=float(np.median(std)),
              code_std_max=float(std.max()), code_eigenvalue_min=float(eigenvalues.min()),
              code_eigenvalue_max=float(eigenvalues.max()),
              code_frechet_distance=metrics.gaussian_frechet_distance_to_prior(mu),
              kl_prior=class_kl(model.sample(count, seed=seed)),
              kl_fitted=class_kl(model.decode(fitted)), kl_codes=class_kl(model.decode(mu)),
              step=int(model.step))


def main(argv):
  del argv
  validation_runs.report(
      heading='# Do E\'s codes fill the prior?',
      doc=__doc__, measure=measure, columns=COLUMNS,
      title='How E\'s codes spread over the prior, and the class balance of G(z) from the '
      'prior, a Gaussian fitted to the codes, and the codes')


if __name__ == '__main__':
  app.run(main)
