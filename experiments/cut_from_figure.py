"""Run once: seed 0's grids of the first five rows, cut out of a3c711a's figure.

  python experiments/cut_from_figure.py \
      experiments/results/representation_comparison_fashion_mnist.png \
      experiments/results/representation_comparison_fashion_mnist_images

(as it was run; that table is now archived, its figure and grids under
experiments/results/archive/representation_comparison_fashion_mnist_1ab6326*).
Those runs' workdirs are gone (session 15's disk did not outlive it), so the
figure committed in a3c711a (5 rows, 8 x 20 in at 80 dpi) is their only copy:
the samples come out at 289 x 289 pixels of the original 291, the
reconstructions at 200 x 289 of 291 x 420 (their captions blur). The same layout is
drawn again with blank grids of the original shapes (samples 291 x 291 grey,
reconstructions 420 x 291 RGB: figures.image_grid / captioned_pairs_grid of
100 images) to find each image's pixel box, which is cut out of the PNG.
"""
import os
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

figure_png, out = sys.argv[1:3]  # the figure; the folder of kept grids
rows = ['bigan', 'latent_regressor', 'joint_latent_regressor', 'autoencoder_l2', 'autoencoder_l1']
shapes = {'samples': (291, 291), 'reconstructions': (420, 291, 3)}
figure, axes = plt.subplots(len(rows), 2, figsize=(8, 4 * len(rows)), squeeze=False)
images = []
for (ax_s, ax_r), row in zip(axes, rows):
  for ax, name in ((ax_s, 'samples'), (ax_r, 'reconstructions')):
    images.append((row, name, ax.imshow(np.zeros(shapes[name], np.uint8), cmap='gray')))
    ax.set_xticks([]); ax.set_yticks([])
    ax.set_title(f'{row}: {name}', fontsize=9)
figure.tight_layout()
figure.set_dpi(80)
figure.canvas.draw()
drawn = np.asarray(Image.open(figure_png))
height = drawn.shape[0]
assert drawn.shape[:2] == tuple(int(v) for v in figure.canvas.get_width_height()[::-1]), drawn.shape
os.makedirs(out, exist_ok=True)
for row, name, image in images:
  box = image.get_window_extent()
  x0, x1 = int(round(box.x0)), int(round(box.x1))
  y0, y1 = height - int(round(box.y1)), height - int(round(box.y0))
  # The axes' spines lie on x0, x1, y0, y1: the grid is between them.
  grid = Image.fromarray(drawn[y0 + 1:y1, x0 + 1:x1]).convert('L' if name == 'samples' else 'RGB')
  grid.save(os.path.join(out, f'{row}_seed_0_{name}.png'))
  print(row, name, (x0, y0, x1, y1))
