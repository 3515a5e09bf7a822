"""Evaluation through the inference model: the mixture's metrics and figures."""
import os

import matplotlib
matplotlib.use('Agg')  # files only; no display on training machines
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from ali_jax.data import mixture

HIGH_QUALITY_STDS = 3.0  # a sample within 3 std of a centre is "high quality"


def gaussian_frechet_distance_to_prior(latents):
  """Frechet distance between N(mean, cov) fitted to `latents` and N(0, I).

  ||mu||^2 + tr(C) + d - 2 tr(C^(1/2)): 0 when q(z) has the prior's first two
  moments.
  """
  mean = latents.mean(axis=0)
  cov = np.atleast_2d(np.cov(latents, rowvar=False))
  eigenvalues = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
  return float(mean @ mean + eigenvalues.sum() + len(mean)
               - 2.0 * np.sqrt(eigenvalues).sum())


def mixture_metrics(samples, heldout, reconstructions, latents):
  """The paper's mode count and our reconstruction and latent measures.

  Args:
    samples: G(z) for z from the prior (the paper uses 10,000).
    heldout: held-out data points x.
    reconstructions: G(E(x)) for those points.
    latents: E(x) for those points.
  """
  num_modes = len(mixture.CENTRES)
  sample_modes, sample_distances = mixture.assign_components(samples)
  high_quality = sample_distances <= HIGH_QUALITY_STDS * mixture.STD
  counts = np.bincount(sample_modes, minlength=num_modes)
  shares = counts / counts.sum()
  nonzero = shares > 0
  heldout_modes, _ = mixture.assign_components(heldout)
  reconstruction_modes, _ = mixture.assign_components(reconstructions)
  return {
      # The paper's count: a mode is covered if any sample is assigned to it.
      'modes_covered': int((counts > 0).sum()),
      # Stricter: a mode is covered if a high-quality sample lies near it.
      'modes_covered_high_quality': int(len(np.unique(sample_modes[high_quality]))),
      'high_quality_fraction': float(high_quality.mean()),
      # KL(sample mode shares || uniform): 0 when every mode gets 1/25 of samples.
      'mode_kl_to_uniform': float((shares[nonzero] * np.log(shares[nonzero] * num_modes)).sum()),
      'reconstruction_same_mode_fraction': float((heldout_modes == reconstruction_modes).mean()),
      'reconstruction_mse': float(((heldout - reconstructions) ** 2).sum(axis=1).mean()),
      'latent_frechet_distance': gaussian_frechet_distance_to_prior(latents),
  }


def evaluate_mixture(model, dataset, *, num_samples, seed=0):
  """Runs `model` on the mixture; returns (metrics, arrays for the figures)."""
  samples = model.sample(num_samples, seed=seed)
  latents = model.encode(dataset.heldout, seed=seed)
  reconstructions = model.decode(latents)
  prior = np.random.default_rng(seed).standard_normal(latents.shape)
  arrays = dict(samples=samples, heldout=dataset.heldout, latents=latents,
                reconstructions=reconstructions, prior=prior)
  return mixture_metrics(samples, dataset.heldout, reconstructions, latents), arrays


def _scatter_pair(path, left, right, *, titles, limit, left_colours=None,
                  right_colours=None):
  figure, axes = plt.subplots(1, 2, figsize=(10, 5))
  for ax, points, colours, title in zip(axes, (left, right),
                                        (left_colours, right_colours), titles):
    ax.scatter(points[:, 0], points[:, 1], s=1, c=colours,
               cmap=None if colours is None else 'tab20', alpha=0.5, rasterized=True)
    ax.set_title(title)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect('equal')
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def save_mixture_figures(image_dir, arrays, *, step):
  """samples.png, reconstructions.png and latents.png in `image_dir`; their paths."""
  os.makedirs(image_dir, exist_ok=True)
  modes, _ = mixture.assign_components(arrays['heldout'])
  paths = [os.path.join(image_dir, name) for name in
           ('samples.png', 'reconstructions.png', 'latents.png')]
  _scatter_pair(paths[0], arrays['heldout'], arrays['samples'], limit=6,
                titles=('data x ~ q(x)', f'samples G(z), z ~ p(z) (step {step})'))
  _scatter_pair(paths[1], arrays['heldout'], arrays['reconstructions'], limit=6,
                left_colours=modes, right_colours=modes,
                titles=('held-out x (colour: its mode)', 'reconstructions G(E(x))'))
  _scatter_pair(paths[2], arrays['latents'], arrays['prior'], limit=4,
                left_colours=modes,
                titles=('q(z): E(x) of held-out x (colour: its mode)', 'p(z) = N(0, I)'))
  return paths
