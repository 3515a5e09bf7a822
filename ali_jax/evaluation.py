"""Evaluation through the inference model: the mixture's metrics and figures."""
import os

import matplotlib
matplotlib.use('Agg')  # files only; no display on training machines
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from PIL import Image

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


def sample_metrics(samples):
  """The paper's mode count and our sample quality measures for G(z), z ~ p(z)."""
  num_modes = len(mixture.CENTRES)
  sample_modes, sample_distances = mixture.assign_components(samples)
  high_quality = sample_distances <= HIGH_QUALITY_STDS * mixture.STD
  counts = np.bincount(sample_modes, minlength=num_modes)
  shares = counts / counts.sum()
  nonzero = shares > 0
  return {
      # The paper's count: a mode is covered if any sample is assigned to it.
      'modes_covered': int((counts > 0).sum()),
      # Stricter: a mode is covered if a high-quality sample lies near it.
      'modes_covered_high_quality': int(len(np.unique(sample_modes[high_quality]))),
      'high_quality_fraction': float(high_quality.mean()),
      # KL(sample mode shares || uniform): 0 when every mode gets 1/25 of samples.
      'mode_kl_to_uniform': float((shares[nonzero] * np.log(shares[nonzero] * num_modes)).sum()),
  }


def inference_metrics(heldout, reconstructions, latents):
  """How well E inverts G on held-out points, and how close q(z) is to the prior."""
  heldout_modes, _ = mixture.assign_components(heldout)
  reconstruction_modes, _ = mixture.assign_components(reconstructions)
  return {
      'reconstruction_same_mode_fraction': float((heldout_modes == reconstruction_modes).mean()),
      'reconstruction_mse': float(((heldout - reconstructions) ** 2).sum(axis=1).mean()),
      'latent_frechet_distance': gaussian_frechet_distance_to_prior(latents),
  }


def mixture_metrics(samples, heldout, reconstructions, latents):
  """sample_metrics and inference_metrics together.

  Args:
    samples: G(z) for z from the prior (the paper uses 10,000).
    heldout: held-out data points x.
    reconstructions: G(E(x)) for those points.
    latents: E(x) for those points.
  """
  return {**sample_metrics(samples), **inference_metrics(heldout, reconstructions, latents)}


def evaluate_mixture(model, dataset, *, num_samples, seed=0, with_encoder=True):
  """Runs `model` on the mixture; returns (metrics, arrays for the figures).

  with_encoder=False (a GAN, whose encoder is never trained): samples only.
  """
  samples = model.sample(num_samples, seed=seed)
  arrays = dict(samples=samples, heldout=dataset.heldout)
  if not with_encoder:
    return sample_metrics(samples), arrays
  latents = model.encode(dataset.heldout, seed=seed)
  reconstructions = model.decode(latents)
  prior = np.random.default_rng(seed).standard_normal(latents.shape)
  arrays.update(latents=latents, reconstructions=reconstructions, prior=prior)
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
  """samples.png, reconstructions.png and latents.png in `image_dir`; their paths.

  Without latents in `arrays` (a GAN) only samples.png.
  """
  os.makedirs(image_dir, exist_ok=True)
  modes, _ = mixture.assign_components(arrays['heldout'])
  paths = [os.path.join(image_dir, name) for name in
           ('samples.png', 'reconstructions.png', 'latents.png')]
  _scatter_pair(paths[0], arrays['heldout'], arrays['samples'], limit=6,
                titles=('data x ~ q(x)', f'samples G(z), z ~ p(z) (step {step})'))
  if 'latents' not in arrays:
    return paths[:1]
  _scatter_pair(paths[1], arrays['heldout'], arrays['reconstructions'], limit=6,
                left_colours=modes, right_colours=modes,
                titles=('held-out x (colour: its mode)', 'reconstructions G(E(x))'))
  _scatter_pair(paths[2], arrays['latents'], arrays['prior'], limit=4,
                left_colours=modes,
                titles=('q(z): E(x) of held-out x (colour: its mode)', 'p(z) = N(0, I)'))
  return paths


# ---- Images ------------------------------------------------------------------------

GRID_ROWS = 10
INTERPOLATION_STEPS = 10


def evaluate_images(model, dataset, *, num_samples, seed=0, with_encoder=True):
  """Reconstruction error and BiGAN's distance ratio on held-out images.

  reconstruction_mse: mean squared error per pixel of G(E(x)).
  reconstruction_distance: mean ||x - G(E(x))|| (BiGAN's EGr); random_pair_distance:
  mean ||x - x'|| to another held-out image (EGr_b); reconstruction_ratio: their
  ratio, below 1 when reconstructions are closer to x than other images are.
  """
  x, y = dataset.heldout, dataset.heldout_conditions
  grid = GRID_ROWS * GRID_ROWS
  num_samples = min(num_samples, grid)
  sample_conditions = None if y is None else y[np.arange(num_samples) % len(y)]
  samples = model.sample(num_samples, sample_conditions, seed=seed)
  if not with_encoder:  # a GAN: samples only
    return {}, dict(samples=samples)
  reconstructions = model.reconstruct(x, y, seed=seed)
  flat = lambda a: a.reshape(len(a), -1)
  distance = np.linalg.norm(flat(x) - flat(reconstructions), axis=1).mean()
  others = x[(np.arange(len(x)) + 1 + np.random.default_rng(seed).integers(
      len(x) - 1)) % len(x)]  # a random shift: every image paired with a different one
  random_distance = np.linalg.norm(flat(x) - flat(others), axis=1).mean()
  # Interpolation strips between the latents of held-out pairs.
  pairs = min(GRID_ROWS, len(x) // 2)
  z = model.encode(x[:2 * pairs], None if y is None else y[:2 * pairs], seed=seed)
  t = np.linspace(0, 1, INTERPOLATION_STEPS)[None, :, None]
  path = ((1 - t) * z[:pairs, None] + t * z[pairs:2 * pairs, None]).reshape(
      pairs * INTERPOLATION_STEPS, -1)
  path_conditions = None if y is None else np.repeat(y[:pairs], INTERPOLATION_STEPS, 0)
  interpolations = model.decode(path, path_conditions)
  metrics = {
      'reconstruction_mse': float(((x - reconstructions) ** 2).mean()),
      'reconstruction_distance': float(distance),
      'random_pair_distance': float(random_distance),
      'reconstruction_ratio': float(distance / random_distance),
  }
  arrays = dict(samples=samples, heldout=x[:grid // 2], reconstructions=reconstructions[:grid // 2],
                interpolations=interpolations, interpolation_rows=pairs)
  return metrics, arrays


def image_grid(images, columns):
  """(n, H, W, C) floats in [0, 1] -> one uint8 image, `columns` wide, 1-pixel gaps."""
  n, height, width, channels = images.shape
  rows = -(-n // columns)
  grid = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), np.float32)
  for i, image in enumerate(images):
    r, c = divmod(i, columns)
    grid[1 + r * (height + 1):1 + r * (height + 1) + height,
         1 + c * (width + 1):1 + c * (width + 1) + width] = image
  grid = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
  return grid[..., 0] if channels == 1 else grid


def save_image_figures(image_dir, arrays, *, step):
  """samples.png, reconstructions.png (x beside G(E(x))), interpolations.png; their paths."""
  del step  # the grids carry no text; eval.json and TensorBoard say the step
  os.makedirs(image_dir, exist_ok=True)
  figures = {'samples.png': image_grid(arrays['samples'], GRID_ROWS)}
  if 'reconstructions' in arrays:  # not for a GAN
    side_by_side = np.stack([arrays['heldout'], arrays['reconstructions']], 1).reshape(
        (-1,) + arrays['heldout'].shape[1:])
    figures['reconstructions.png'] = image_grid(side_by_side, GRID_ROWS)
    figures['interpolations.png'] = image_grid(arrays['interpolations'], INTERPOLATION_STEPS)
  paths = []
  for name, grid in figures.items():
    paths.append(os.path.join(image_dir, name))
    Image.fromarray(grid).save(paths[-1])
  return paths
