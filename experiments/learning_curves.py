"""A run's learning curves in one figure and one table, from its eval_history.json.

  python experiments/learning_curves.py --runs=ali=runs/fashion_mnist_long \
      --output=experiments/results/learning_curves_fashion_mnist_long.md

--runs: NAME=WORKDIR (or a WORKDIR, named by its folder), one or several. Each run's
evaluations during training read the validation split (drawn as lines); its final one
reads config.data.final_split (the test split, read once: a star, and its own rows of the
table). Works on a run still training (a long schedule across sessions): it draws the
evaluations so far and says how far the run is.
"""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: ali_jax/ lives here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import datasets
from experiments import curves as curves_lib
from experiments import launch
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('runs', None, 'NAME=WORKDIR (or WORKDIR) of each run to draw.')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')
flags.mark_flag_as_required('runs')

# (key, column, format): the curves; the pairing diagnostic's posterior beside it.
CURVES = (
    ('encoder_1nn_accuracy', '1-NN accuracy on E(x)', '{:.2%}'),
    ('reconstruction_class_agreement', 'reconstruction class agreement', '{:.2%}'),
    ('sample_class_kl_to_uniform', 'sample class KL to uniform', '{:.3f}'),
    ('pairing_accuracy', 'pairing accuracy', '{:.3f}'),
    ('posterior_mean_share', 'posterior mean share', '{:.3f}'),
)
KEYS = tuple(key for key, _, _ in CURVES)
PIXELS = 'pixel_1nn_accuracy'  # raw pixels' 1-NN on the same held-out images


def named_runs(specs):
  """{name: workdir} of --runs; a usage error naming the problem and the fix."""
  runs = {}
  for spec in specs:
    name, _, workdir = spec.rpartition('=')
    name = name or os.path.basename(os.path.normpath(workdir))
    if not os.path.exists(os.path.join(workdir, workdir_lib.CONFIG_FILE)):
      raise app.UsageError(f'--runs: {workdir!r} holds no run ({workdir_lib.CONFIG_FILE} '
                           'missing); give the --workdir of a run main.py started.')
    if name in runs:
      raise app.UsageError(f'--runs: two runs are named {name!r}; name them NAME=WORKDIR.')
    runs[name] = workdir
  return runs


def evaluations(workdir):
  """[(split, step, {key: value})] of every evaluation of the run, by step."""
  return [(e['split'], e['step'], {k: e[k] for k in (*KEYS, PIXELS) if k in e})
          for e in workdir_lib.load_eval_history(workdir)]


def markdown_table(runs):
  lines = ['| run | split | step | ' + ' | '.join(c for _, c, _ in CURVES)
           + ' | raw pixels, 1-NN |', '|' + '---|' * (len(CURVES) + 4)]
  for name, workdir in runs.items():
    for split, step, values in evaluations(workdir):
      cells = [number_format.format(values[key]) if key in values else '-'
               for key, _, number_format in (*CURVES, (PIXELS, '', '{:.2%}'))]
      lines.append(f'| {name} | {split} | {step} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def progress(name, workdir):
  """'name: evaluated up to step S of N (P %), trained at <commits>'."""
  steps = workdir_lib.load_config(workdir).num_train_steps
  done = max((step for _, step, _ in evaluations(workdir)), default=None)
  commits = ', '.join(launch.trained_at(workdir)) or 'unknown'
  if done is None:
    return (f'{name}: no evaluations in its {workdir_lib.EVAL_HISTORY_FILE} (a run started '
            f'before that file existed keeps none), trained at {commits}')
  return (f'{name}: evaluated up to step {done} of {steps} ({done / steps:.0%}), trained at '
          f'{commits}')


def draw(path, runs):
  validation, finals, pixels = {}, {}, {}
  for name, workdir in runs.items():
    validation[name] = curves_lib.from_history(workdir, KEYS)
    finals[name] = {key: [step, values[key]] for split, step, values in evaluations(workdir)
                    if split != datasets.VALIDATION for key in values if key in KEYS}
    pixels.update({values[PIXELS]: split for split, _, values in evaluations(workdir)
                   if PIXELS in values})
  references = {'encoder_1nn_accuracy': [(value, f'raw pixels ({split})')
                                         for value, split in pixels.items()]}
  curves_lib.draw(path, validation, KEYS, finals=finals, references=references)


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  runs = named_runs(FLAGS.runs)
  stem = os.path.splitext(FLAGS.output or os.path.join(next(iter(runs.values())),
                                                       'learning_curves.md'))[0]
  figure = stem + '.png'
  draw(figure, runs)
  report = '\n\n'.join([
      '# Learning curves: ' + ', '.join(runs),
      reporting.provenance(recorder.commit, recorder.wall_s) + '  \n'
      + '  \n'.join(progress(name, workdir) for name, workdir in runs.items()) + '.',
      'Each evaluation during training reads the validation split (lines); the final one '
      'reads the run\'s final split (stars: the test split, read once). Raw pixels: 1-NN '
      'accuracy on the same held-out images (dashed). Pairing accuracy: the share of held-out '
      "x whose own code D scores above another image's (chance 0.5, dotted).",
      markdown_table(runs),
      f'![learning curves]({os.path.basename(figure)})',
      ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, outputs=[figure],
                          title='Learning curves of ' + ', '.join(runs),
                          numbers={'runs': {name: evaluations(w) for name, w in runs.items()}},
                          trained_at=sorted({c for w in runs.values()
                                             for c in launch.trained_at(w)}))


if __name__ == '__main__':
  app.run(main)
