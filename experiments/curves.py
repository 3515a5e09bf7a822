"""Learning curves: a run's evaluations over its steps (its eval_history.json), drawn."""
import os

# pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import datasets

# Where a metric's panel draws chance: the pairing diagnostic's D that does not check
# the pairing ranks a code against another image's half the time.
CHANCE = {'pairing_accuracy': 0.5}


def from_history(workdir, keys, split=datasets.VALIDATION):
  """{key: [[step, value], ...]} of the run's evaluations of `split` that report `key`
  (the periodic ones read the validation split; the final one config.data.final_split)."""
  return of_evaluations(workdir_lib.load_eval_history(workdir), keys, split)


def of_evaluations(history, keys, split=datasets.VALIDATION):
  """from_history of a history already read (workdir.load_eval_history's list)."""
  history = [e for e in history if e['split'] == split]
  return {key: [[e['step'], e[key]] for e in history if key in e] for key in keys}


def draw(path, curves, keys, *, finals=None, references=None):
  """One panel per key, a line per run.

  curves: {run name: {key: [[step, value], ...]}}; finals: {run name: {key: [step,
  value]}}, drawn as stars (the final evaluation, on another split); references:
  {key: [(value, label), ...]}, drawn as dashed lines (e.g. raw pixels' 1-NN).
  """
  figure, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
  axes = axes[0]
  for index, (name, run) in enumerate(curves.items()):
    colour = f'C{index % 10}'
    for ax, key in zip(axes, keys):
      if run.get(key):
        steps, values = zip(*run[key])
        ax.plot(steps, values, marker='.', color=colour,
                label=name if ax is axes[0] else None)  # the runs named once
      final = (finals or {}).get(name, {}).get(key)
      if final:
        ax.plot(*final, marker='*', markersize=11, color=colour, linestyle='none')
  for ax, key in zip(axes, keys):
    ax.set_title(key, fontsize=9)
    ax.set_xlabel('step')
    for value, label in (references or {}).get(key, []):
      ax.axhline(value, color='black', lw=0.8, ls='--', label=label)
    if key in CHANCE:
      ax.axhline(CHANCE[key], color='grey', lw=0.8, ls=':', label='chance')
    if ax.get_legend_handles_labels()[0]:
      ax.legend(fontsize=7)
  figure.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  figure.savefig(path, dpi=90)
  plt.close(figure)
