"""The evaluation's figures: the mixture's scatter plots, the image grids, as PNG bytes."""
import io

import matplotlib
matplotlib.use('Agg')  # files only; no display on training machines
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from PIL import Image

from ali_jax.data import mixture

def _scatter_pair(left, right, *, titles, limit, left_colours=None, right_colours=None):
  """Two scatter plots side by side, as PNG bytes."""
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
  png = io.BytesIO()
  figure.savefig(png, format='png', dpi=100)
  plt.close(figure)
  return png.getvalue()


def mixture_figures(arrays, *, step):
  """{'samples.png', 'reconstructions.png', 'latents.png': PNG bytes}.

  Without latents in `arrays` (a GAN) only samples.png.
  """
  figures = {'samples.png': _scatter_pair(
      arrays['heldout'], arrays['samples'], limit=6,
      titles=('data x ~ q(x)', f'samples G(z), z ~ p(z) (step {step})'))}
  if 'latents' not in arrays:
    return figures
  modes, _ = mixture.assign_components(arrays['heldout'])
  figures['reconstructions.png'] = _scatter_pair(
      arrays['heldout'], arrays['reconstructions'], limit=6, left_colours=modes,
      right_colours=modes, titles=('held-out x (colour: its mode)', 'reconstructions G(E(x))'))
  figures['latents.png'] = _scatter_pair(
      arrays['latents'], arrays['prior'], limit=4, left_colours=modes,
      titles=('q(z): E(x) of held-out x (colour: its mode)', 'p(z) = N(0, I)'))
  return figures


GRID_ROWS = 10
INTERPOLATION_STEPS = 10


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


CAPTION_HEIGHT = 12
AGREES, DISAGREES, LABEL = (40, 200, 40), (230, 40, 40), (160, 160, 160)


def captioned_pairs_grid(heldout, reconstructions, labels, classes, pairs_per_row):
  """x beside G(E(x)) in pairs, each pair captioned "label: class" under it.

  The caption gives x's true label and the reference classifier's class of
  G(E(x)), green when they agree and red when not. An RGB uint8 image.
  """
  from PIL import ImageDraw  # pylint: disable=g-import-not-at-top
  n, height, width, _ = heldout.shape
  side_by_side = np.stack([heldout, reconstructions], 1).reshape((-1,) + heldout.shape[1:])
  rows = -(-n // pairs_per_row)
  tile_rows = []
  for r in range(rows):
    row = image_grid(side_by_side[2 * r * pairs_per_row:2 * (r + 1) * pairs_per_row],
                     2 * pairs_per_row)
    row = np.broadcast_to(row[..., None], row.shape + (3,)) if row.ndim == 2 else row
    canvas = np.zeros((row.shape[0] + CAPTION_HEIGHT, 2 * pairs_per_row * (width + 1) + 1, 3),
                      np.uint8)
    canvas[:row.shape[0], :row.shape[1]] = row
    tile_rows.append(canvas)
  image = Image.fromarray(np.concatenate(tile_rows))
  draw = ImageDraw.Draw(image)
  for i, (label, predicted) in enumerate(zip(labels, classes)):
    r, c = divmod(i, pairs_per_row)
    top = r * (height + 2 + CAPTION_HEIGHT) + height + 2  # a row: gap, tiles, gap, caption
    left = 1 + 2 * c * (width + 1)
    draw.text((left + 2, top), f'{label}:', fill=LABEL)
    draw.text((left + width + 4, top), f'{predicted}',
              fill=AGREES if label == predicted else DISAGREES)
  return np.asarray(image)


def image_figures(arrays, *, step):
  """{name: PNG bytes}: samples.png, reconstructions.png (x beside G(E(x)); captioned
  with x's label and the class of G(E(x)) when the dataset has labels),
  interpolations.png."""
  del step  # eval.json and TensorBoard say the step
  figures = {'samples.png': image_grid(arrays['samples'], GRID_ROWS)}
  if 'reconstructions' in arrays:  # not for a GAN
    if 'reconstruction_classes' in arrays:
      figures['reconstructions.png'] = captioned_pairs_grid(
          arrays['heldout'], arrays['reconstructions'], arrays['heldout_labels'],
          arrays['reconstruction_classes'], GRID_ROWS // 2)
    else:
      side_by_side = np.stack([arrays['heldout'], arrays['reconstructions']], 1).reshape(
          (-1,) + arrays['heldout'].shape[1:])
      figures['reconstructions.png'] = image_grid(side_by_side, GRID_ROWS)
    figures['interpolations.png'] = image_grid(arrays['interpolations'], INTERPOLATION_STEPS)
  return {name: _png(grid) for name, grid in figures.items()}


def _png(grid):
  png = io.BytesIO()
  Image.fromarray(grid).save(png, format='png')
  return png.getvalue()
