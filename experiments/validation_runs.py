"""Finished runs read on their validation split, for the scripts that measure them
(mean_reconstruction.py, code_coverage.py): each run loaded with its class references, and
the report of one row per run, with its record."""
from absl import app
from absl import flags

import ali_jax
from ali_jax import data
from ali_jax.evaluation import evaluator
from ali_jax.settings import choices
from ali_jax.settings import datasets
from experiments import launch
from experiments import records
from experiments import reporting

flags.DEFINE_list('runs', [], 'NAME=WORKDIR of finished runs with a Gaussian encoder.')
flags.DEFINE_string('output', None, 'The report (.md); its record beside it.')


def load(workdir):
  """(the model of `workdir`, its dataset, the validation split's class references), or a
  clear error where the run has no Gaussian encoder, no trained one or no classifier."""
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
  return model, dataset, references[datasets.VALIDATION]


def measured(runs, measure, columns):
  """({name: numbers}, the table's lines): measure(workdir) of each NAME=WORKDIR of `runs`
  (a --runs list), with where and on what it was trained, one row per run of `columns`
  ((heading, key, format) each)."""
  if not runs or any('=' not in run for run in runs):
    raise app.UsageError(f'--runs={",".join(runs)}: expected NAME=WORKDIR,...')
  numbers, lines = {}, ['| run | ' + ' | '.join(c for c, _, _ in columns) + ' |',
                        '|---|' + '---|' * len(columns)]
  for name, workdir in dict(run.split('=', 1) for run in runs).items():
    # The sweeps' launcher records each start's commit and machine in the workdir.
    numbers[name] = dict(measure(workdir), workdir=workdir,
                         trained_at=', '.join(launch.trained_at(workdir)) or 'not recorded',
                         trained_on=', '.join(launch.trained_on(workdir)) or 'not recorded')
    lines.append(f'| {name} | ' + ' | '.join(number_format.format(numbers[name][key])
                                             for _, key, number_format in columns) + ' |')
  return numbers, lines


def report(*, heading, doc, measure, columns, title):
  """Measures every run of --runs (measured()), prints the report (`heading`, provenance,
  the script's docstring `doc` past its first two paragraphs (title and usage), the table)
  and writes it with its record (`title`) to --output."""
  description = doc.split('\n\n', 2)[2].strip()
  recorder = records.Recorder.from_flags(flags.FLAGS)
  numbers, lines = measured(flags.FLAGS.runs, measure, columns)
  text = '\n\n'.join([heading, reporting.provenance(recorder.commit, recorder.wall_s),
                       description, '\n'.join(lines), ''])
  print(text)
  if flags.FLAGS.output:
    recorder.write_report(flags.FLAGS.output, text, title=title, numbers=numbers)
