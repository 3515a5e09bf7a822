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
from typing import Any, Dict, List, NamedTuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: ali_jax/ lives here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags

from ali_jax.runs import workdir as workdir_lib
from experiments import curves as curves_lib
from experiments import launch
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('runs', None, 'NAME=WORKDIR (or WORKDIR) of each run to draw.')
flags.DEFINE_string('output', None, 'Markdown file to write, its figure beside it (default: '
                    'the report printed only, the figure beside the first run).')
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


class Run(NamedTuple):
  """One run's evaluations, read once (a run still training may add more meanwhile)."""
  workdir: str
  num_train_steps: int
  history: List[Dict[str, Any]]  # workdir.load_eval_history's entries
  commits: List[str]

  def final(self, entry):
    """The run's final evaluation (eval.json's: config.data.final_split, the test split
    unless the run is a sweep's that chooses on validation); the others ran during
    training, on the validation split."""
    return entry['step'] == self.num_train_steps


def named_runs(specs):
  """{name: Run} of --runs; a usage error naming the problem and the fix."""
  runs = {}
  for spec in specs:
    name, _, workdir = spec.partition('=') if '=' in spec else ('', '', spec)
    name = name or os.path.basename(os.path.normpath(workdir))
    if not workdir_lib.has_config(workdir):
      raise app.UsageError(f'--runs: {workdir!r} holds no run ({workdir_lib.CONFIG_FILE} '
                           'missing); give the --workdir of a run main.py started.')
    if name in runs:
      raise app.UsageError(f'--runs: two runs are named {name!r}; name them NAME=WORKDIR.')
    runs[name] = Run(workdir, workdir_lib.load_config(workdir).num_train_steps,
                     workdir_lib.load_eval_history(workdir), launch.trained_at(workdir))
  return runs


def markdown_table(runs):
  lines = ['| run | evaluation | split | step | ' + ' | '.join(c for _, c, _ in CURVES)
           + ' | raw pixels, 1-NN |', '|' + '---|' * (len(CURVES) + 5)]
  for name, run in runs.items():
    for entry in run.history:
      cells = [number_format.format(entry[key]) if key in entry else '-'
               for key, _, number_format in (*CURVES, (PIXELS, '', '{:.2%}'))]
      kind = 'final' if run.final(entry) else 'during training'
      lines.append(f'| {name} | {kind} | {entry["split"]} | {entry["step"]} | '
                   + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def progress(name, run):
  """'name: evaluated up to step S of N (P %), trained at <commits>'."""
  done = max((entry['step'] for entry in run.history), default=None)
  commits = ', '.join(run.commits) or 'unknown'
  if done is None:
    return (f'{name}: no evaluations in its {workdir_lib.EVAL_HISTORY_FILE} (a run started '
            f'before that file existed keeps none), trained at {commits}')
  return (f'{name}: evaluated up to step {done} of {run.num_train_steps} '
          f'({done / run.num_train_steps:.0%}), trained at {commits}')


def draw(path, runs):
  during, finals, pixels = {}, {}, {}
  for name, run in runs.items():
    during[name] = curves_lib.of_evaluations([e for e in run.history if not run.final(e)],
                                             KEYS)
    finals[name] = {key: [e['step'], e[key]] for e in run.history if run.final(e)
                    for key in KEYS if key in e}
    pixels.update({e[PIXELS]: e['split'] for e in run.history if PIXELS in e})
  references = {'encoder_1nn_accuracy': [(value, f'raw pixels ({split})')
                                         for value, split in pixels.items()]}
  curves_lib.draw(path, during, KEYS, finals=finals, references=references)


def main(argv):
  del argv
  recorder = records.Recorder.from_flags(FLAGS)
  runs = named_runs(FLAGS.runs)
  if not FLAGS.output and workdir_lib.is_bucket(next(iter(runs.values())).workdir):
    raise app.UsageError('--output: give a local file for the report and figure of a run '
                         'in a bucket (by default they go beside the first run).')
  stem = os.path.splitext(FLAGS.output or os.path.join(next(iter(runs.values())).workdir,
                                                       'learning_curves.md'))[0]
  figure = stem + '.png'
  draw(figure, runs)
  report = '\n\n'.join([
      '# Learning curves: ' + ', '.join(runs),
      reporting.provenance(recorder.commit, recorder.wall_s) + '  \n'
      + '  \n'.join(progress(name, run) for name, run in runs.items()) + '.',
      'Each evaluation during training reads the validation split (lines); the final one, '
      'at the last step, reads the run\'s final split (stars: the test split, read once, '
      'unless the run is a sweep\'s that chooses on validation). Raw pixels: 1-NN '
      'accuracy on the same held-out images (dashed). Pairing accuracy: the share of held-out '
      "x whose own code D scores above another image's (chance 0.5, dotted).",
      markdown_table(runs),
      f'![learning curves]({os.path.basename(figure)})',
      ''])
  print(report)
  if FLAGS.output:
    recorder.write_report(FLAGS.output, report, outputs=[figure],
                          title='Learning curves of ' + ', '.join(runs),
                          numbers={'runs': {name: run.history for name, run in runs.items()}},
                          trained_at=sorted({c for run in runs.values() for c in run.commits}))


if __name__ == '__main__':
  app.run(main)
