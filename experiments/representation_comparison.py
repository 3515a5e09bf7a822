"""What each way of learning an encoder is worth as a representation (BiGAN's Table 1).

  python experiments/representation_comparison.py --config=configs/bigan_mnist_mlp.py \
      --set num_train_steps=10000 --seeds=0,1,2 \
      --reference_row=bigan,latent_regressor,bigan_latent_regressor \
      --workdir=runs/representations_v2 \
      --output=experiments/results/representation_comparison_fashion_mnist_v2.md

(the committed table's command also names every row with --rows, in the table's order: see
its report).

Every row trains --config's networks with one method (ROWS) and the config's
optimisation, for each seed, in <workdir>/<row>/seed_<s>: ALI (a Gaussian
encoder and prior, its sigma = exp(.) as published, and ali_bounded_sigma with
sigma = sigmoid(.) < 1, the prior's std: models/common.py's SIGMAS), BiGAN, a
GAN followed by a latent regressor, the joint latent regressor, post-hoc
inference, ALICE, ALI and BiGAN with ALICE's cycle term at the regulariser
study's weight (ali_cycle_300, bigan_cycle_300), and autoencoders with l2 and l1
reconstruction errors; every row but the ali* ones has a deterministic encoder
and the config's prior (BiGAN's U(-1, 1) in configs/bigan_mnist_mlp.py). The
two-phase rows spend the last --inference_fraction of the same step budget on
inference. Raw pixels are the baseline row. Columns, mean +- sample std (ddof=1)
over seeds: the 1-NN test accuracy of E(x) (eval.json's `encoder_1nn_accuracy`;
pixels: `pixel_1nn_accuracy`), the mean test error of --num_svms L2-SVMs on E(x)
(the encoder's mean, `features(hidden_layers=0)`) at each --labels count
(experiments/svm_protocol.py), and eval.json's reconstruction class agreement,
sample class KL to uniform and classifier score, the std of E's noise around the
mean of q(z|x) on the test images (0 when deterministic) and each run's wall
time. Beside them, BiGAN's MNIST 1-NN accuracies (another dataset). The figure
(--output's name, .png) shows the first seed's samples and reconstructions per
row.

Each measured run's numbers are kept in --output's name with .json
(experiments/run_records.py), so a table can grow over several invocations and
machines: recorded runs are tabled, not trained or measured again; finished
runs in --workdir are measured, not trained again; --notrain measures the
finished ones only. The figure's grids are kept too, in --output's name with
_images, so it is redrawn from them once the runs are gone.
"""
import concurrent.futures
import functools
import os
import sys
from typing import Any, Dict, NamedTuple, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ and ali_jax/ live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np

import ali_jax
from ali_jax.runs import workdir as workdir_lib
from experiments import launch
from experiments import records
from experiments import reporting
from experiments import run_records
from experiments import svm_protocol

FLAGS = flags.FLAGS
flags.DEFINE_string('config', 'configs/bigan_mnist_mlp.py', 'The networks and optimisation '
                    'of every row (a labelled image dataset).')
flags.DEFINE_list('rows', None, 'Rows to train (default: all of ROWS).')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds.')
flags.DEFINE_list('labels', ['100', '1000'], 'Labelled examples per SVM.')
flags.DEFINE_float('inference_fraction', 0.25, 'The two-phase rows: the share of the steps '
                   'that trains inference after the GAN.')
flags.DEFINE_multi_string('set', [], 'FIELD=VALUE: a config override for every run.')
flags.DEFINE_integer('jobs', 1, 'Runs trained at the same time.')
flags.DEFINE_bool('train', True, 'Train unfinished runs; --notrain reports finished ones.')
flags.DEFINE_string('workdir', 'runs/representations', 'Parent of the runs.')
flags.DEFINE_integer('num_svms', 10, 'L2-SVMs per run and label count.')
flags.DEFINE_integer('num_c', 50, 'Values of C in exp(linspace(-20, 20, num_c)).')
flags.DEFINE_string('output', None, 'Markdown file to write (default: print only).')
flags.DEFINE_list('reference_row', ['bigan'], 'Every other row\'s paired differences from '
                  'each of these rows (a table each), seed by seed, with 95 % intervals.')

class Row(NamedTuple):
  overrides: Dict[str, Any]   # config overrides beyond --config
  two_phase: bool = False     # inference_steps from --inference_fraction
  bigan_mnist_1nn: Optional[float] = None  # BiGAN's Table 1, MNIST 1-NN accuracy (%)


DETERMINISTIC = {'model.encoder': 'deterministic'}
GAUSSIAN_ALI = {'method': 'ali', 'model.encoder': 'gaussian', 'model.prior': 'gaussian'}
ROWS = {
    'ali': Row(GAUSSIAN_ALI),  # ALI's sigma = exp(a): runs away in BiGAN's MLPs
    'ali_bounded_sigma': Row({**GAUSSIAN_ALI, 'model.encoder_sigma': 'sigmoid'}),  # sigma < 1
    'bigan': Row({'method': 'bigan', **DETERMINISTIC}, bigan_mnist_1nn=97.39),
    # BiGAN's latent regressor (E on G(z) at every step, with the GAN): its Table 1's row.
    'bigan_latent_regressor': Row({'method': 'bigan_latent_regressor', **DETERMINISTIC},
                                  bigan_mnist_1nn=97.44),
    # The ALI paper's: E trained after the GAN, against the frozen G.
    'latent_regressor': Row({'method': 'latent_regressor', **DETERMINISTIC}, two_phase=True),
    'joint_latent_regressor': Row({'method': 'joint_latent_regressor', **DETERMINISTIC},
                                  bigan_mnist_1nn=97.13),
    'post_hoc': Row({'method': 'post_hoc', **DETERMINISTIC}, two_phase=True),
    'alice': Row({'method': 'alice', **DETERMINISTIC}),
    # ALICE's cycle term at the weight that the regulariser study chose on the validation
    # split (experiments/regulariser_study.py's alice_cycle_300, on ALI's Gaussian encoder with
    # a bounded sigma), and the same term on BiGAN's deterministic encoder and prior.
    'ali_cycle_300': Row({**GAUSSIAN_ALI, 'model.encoder_sigma': 'sigmoid', 'method': 'alice',
                          'method_options.cycle_weight': 300.0}),
    'bigan_cycle_300': Row({'method': 'alice', 'method_options.cycle_weight': 300.0,
                            **DETERMINISTIC}),
    'autoencoder_l2': Row({'method': 'autoencoder', 'method_options.reconstruction': 'l2',
                           **DETERMINISTIC}, bigan_mnist_1nn=97.58),
    'autoencoder_l1': Row({'method': 'autoencoder', 'method_options.reconstruction': 'l1',
                           **DETERMINISTIC}, bigan_mnist_1nn=97.63),
}
RAW_PIXELS = 'raw pixels'
PIXELS_PAPER_NOTE = 'BiGAN also reports D\'s features (97.30), a representation we do not read.'
PERCENT, DECIMAL, SECONDS, SCIENTIFIC = '{:.2%}', '{:.3f}', '{:.0f}', '{:.3g}'
EVAL_COLUMNS = (  # (eval.json key, heading, number format)
    ('reconstruction_class_agreement', 'reconstruction class agreement', PERCENT),
    ('sample_class_kl_to_uniform', 'sample class KL to uniform', DECIMAL),
    ('classifier_score', 'classifier score', DECIMAL),
)
# How far E's samples stray from the mean of q(z|x): 0 for a deterministic encoder; a
# Gaussian one whose sigma grew without bound (ALI's exp has no clamp) shows it here.
ENCODER_NOISE_STD = 'encoder_noise_std'
WALL_S = 'wall_s'  # a run's training and evaluation time (launch.run_wall_s)
# A run's grids (workdir images) that the figure shows; kept beside the table.
FIGURE_IMAGES = ('samples.png', 'reconstructions.png')


def _rows():
  return FLAGS.rows or list(ROWS)


def _workdir(row, seed):
  return os.path.join(FLAGS.workdir, row, f'seed_{seed}')


def run_overrides(row, seed, num_train_steps):
  """main.py's config overrides for one row and seed."""
  result = {**launch.overrides_from(FLAGS.set), 'seed': seed, **ROWS[row].overrides}
  if ROWS[row].two_phase:
    result['method_options.inference_steps'] = max(
        1, int(round(num_train_steps * FLAGS.inference_fraction)))
  return result


def _num_train_steps():
  """The config's step count after --set (the two-phase rows split it)."""
  return launch.num_train_steps(FLAGS.config, launch.overrides_from(FLAGS.set))


def _svm_errors(featurise, splits, seed):
  """{'svm_<labels>': the SVMs' mean test error} on featurise(images), a value per --labels."""
  images, labels = splits
  c_values = np.exp(np.linspace(-20, 20, FLAGS.num_c))
  features = {part: featurise(x) for part, x in images.items()}
  return {f'svm_{count}': svm_protocol.mean_test_error(
      features, labels, num_labels=count, num_svms=FLAGS.num_svms, c_values=c_values, seed=seed)
          for count in map(int, FLAGS.labels)}


def measure_run(row, seed, splits, evaluation):
  """The table's values for one finished run: its SVMs and its eval.json's numbers."""
  workdir = _workdir(row, seed)
  model = ali_jax.load(workdir)
  values = _svm_errors(functools.partial(model.features, hidden_layers=0), splits, seed)
  values.update({key: evaluation[key] for key in ['encoder_1nn_accuracy']
                 + [k for k, _, _ in EVAL_COLUMNS] if key in evaluation})
  values[ENCODER_NOISE_STD] = encoder_noise_std(model, splits[0]['test'])
  values[WALL_S] = launch.run_wall_s(workdir)
  return values


def measure_pixels(seed, splits, evaluation):
  """The raw-pixel row for `seed`'s SVM draws; 1-NN from a run's eval.json."""
  values = _svm_errors(lambda x: x.reshape(len(x), -1), splits, seed)
  if 'pixel_1nn_accuracy' in evaluation:
    values['encoder_1nn_accuracy'] = evaluation['pixel_1nn_accuracy']
  return values


def encoder_noise_std(model, images):
  """The std of E(x) - mean of q(z|x) over `images` and latent dimensions."""
  return float(np.std(model.encode(images) - model.features(images, hidden_layers=0)))


def markdown_table(runs, seeds):
  """runs: {row: {seed: record}} -> one line per row with a record among `seeds`."""
  columns = ([('encoder_1nn_accuracy', '1-NN accuracy on E(x)', PERCENT)]
             + [(f'svm_{n}', f'L2-SVM error, {int(n):,} labels', PERCENT) for n in FLAGS.labels]
             + list(EVAL_COLUMNS)
             + [(ENCODER_NOISE_STD, 'encoder noise std (test)', SCIENTIFIC),
                (WALL_S, 'wall s per run', SECONDS)])
  lines = ['| representation | runs | ' + ' | '.join(h for _, h, _ in columns)
           + ' | BiGAN paper, MNIST 1-NN |', '|---' * (len(columns) + 3) + '|']
  for row, row_runs in runs.items():
    measured = run_records.measured(row_runs)
    chosen = [measured[s] for s in seeds if s in measured]
    stopped = {s: step for s, step in run_records.diverged(row_runs).items() if s in seeds}
    if not chosen and not stopped:
      continue
    count = f'{len(chosen)}' + (f' (+{len(stopped)} diverged: ' + ', '.join(
        f'seed {s} at step {step:,}' for s, step in sorted(stopped.items())) + ')'
                                if stopped else '')
    cells = []
    for column, _, number_format in columns:
      column_values = [values[column] for values in chosen if column in values]
      cells.append(reporting.mean_std(column_values, number_format) if column_values else '-')
    paper = ROWS[row].bigan_mnist_1nn if row in ROWS else None
    lines.append(f'| {row} | {count} | ' + ' | '.join(cells) + ' | '
                 + (f'{paper:.2f} %' if paper else '-') + ' |')
  return '\n'.join(lines)


def paired_differences_table(runs, seeds, reference):
  """Each row minus `reference` on the seeds both have, in points: the mean paired
  difference and its 95 % t interval; '*' where the interval excludes 0."""
  columns = ([('encoder_1nn_accuracy', '1-NN accuracy', 100, '{:+.2f}')]
             + [(f'svm_{n}', f'L2-SVM error, {int(n):,} labels', 100, '{:+.2f}')
                for n in FLAGS.labels]
             + [('reconstruction_class_agreement', 'reconstruction class agreement', 100,
                 '{:+.2f}')])
  differences = run_records.paired_differences(runs, reference, [c[0] for c in columns], seeds)
  return run_records.paired_table(differences, f'representation minus {reference}', columns)


def samples_and_reconstructions_figure(path, rows, seed):
  """One row per method: seed `seed`'s sample grid and reconstruction grid (kept)."""
  figure, axes = plt.subplots(len(rows), 2, figsize=(8, 4 * len(rows)), squeeze=False)
  for (ax_samples, ax_reconstructions), row in zip(axes, rows):
    for ax, name in ((ax_samples, 'samples.png'), (ax_reconstructions, 'reconstructions.png')):
      ax.imshow(plt.imread(str(_kept_images(row, seed)[name])), cmap='gray')
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_title(f'{row}: {name[:-4]}', fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=80)
  plt.close(figure)


def settings():
  """What every run of one table shares; run_records refuses to mix in others."""
  return {'config': FLAGS.config, 'set': sorted(FLAGS.set),
          'inference_fraction': FLAGS.inference_fraction,
          'labels': [int(n) for n in FLAGS.labels], 'num_svms': FLAGS.num_svms,
          'num_c': FLAGS.num_c}


def _output_stem():
  """--output without .md; the records (.json) and the figure (.png) share it."""
  return (os.path.splitext(FLAGS.output)[0] if FLAGS.output
          else os.path.join(FLAGS.workdir, 'representation_comparison'))


def _kept_images(row, seed):
  """{name: file}: the run's grids as kept beside the table (the figure's source)."""
  folder = _output_stem() + '_images'
  return {name: os.path.join(folder, f'{row}_seed_{seed}_{name}') for name in FIGURE_IMAGES}


def keep_images(row, seed):
  """Copies the run's grids beside the table, so the figure outlives the workdir."""
  images = workdir_lib.path(_workdir(row, seed)) / workdir_lib.IMAGE_DIR
  for name, kept in _kept_images(row, seed).items():
    if (images / name).exists():
      workdir_lib.write_bytes(kept, (images / name).read_bytes())


def _has_kept_images(row, seed):
  return all(os.path.exists(kept) for kept in _kept_images(row, seed).values())


def main(argv):
  del argv
  launch.check_choices('rows', _rows(), ROWS)
  if FLAGS['reference_row'].present:  # the default pairs with bigan when it is tabled
    launch.check_choices('reference_row', FLAGS.reference_row, [RAW_PIXELS, *_rows()])
  recorder = records.Recorder.from_flags(FLAGS)
  commit, machine = recorder.commit, reporting.machine()
  seeds = [int(s) for s in FLAGS.seeds]
  steps = _num_train_steps()
  records_file = _output_stem() + '.json'
  try:
    runs = run_records.load(records_file, settings())
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  # Recorded runs are tabled as they are; the others are trained (--notrain: only
  # the finished ones are read) and measured.
  unrecorded = [(row, seed) for row in _rows() for seed in seeds
                if seed not in runs.get(row, {})]
  if not FLAGS.train:
    unrecorded = [(r, s) for r, s in unrecorded
                  if launch.is_finished(_workdir(r, s), run_overrides(r, s, steps))
                  or launch.diverged_at(_workdir(r, s)) is not None]
  splits = None
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    futures = {pool.submit(launch.train_run, FLAGS.config, _workdir(row, seed),
                           run_overrides(row, seed, steps), skip_finished=True): (row, seed)
               for row, seed in unrecorded}
    # Each run is measured and saved as it finishes: a sweep stopped halfway keeps them.
    for future in concurrent.futures.as_completed(futures):
      (row, seed) = futures[future]
      workdir = _workdir(row, seed)
      try:
        evaluation = future.result()
      except launch.RunDiverged as stop:  # a result of the row's settings: tabled as one
        runs.setdefault(row, {})[seed] = run_records.record(
            {}, commit, launch.trained_at(workdir), machine, launch.trained_on(workdir),
            diverged_at_step=stop.step)
        run_records.save(records_file, settings(), runs)
        continue
      splits = splits or svm_protocol.labelled_splits(workdir_lib.load_config(workdir))
      runs.setdefault(row, {})[seed] = run_records.record(
          measure_run(row, seed, splits, evaluation), commit, launch.trained_at(workdir),
          machine, launch.trained_on(workdir))
      if seed not in runs.get(RAW_PIXELS, {}):
        runs.setdefault(RAW_PIXELS, {})[seed] = run_records.record(
            measure_pixels(seed, splits, evaluation), commit, [], machine)
      run_records.save(records_file, settings(), runs)
      keep_images(row, seed)
  tabled = {row: runs[row] for row in [RAW_PIXELS] + _rows() if row in runs}
  references = [row for row in FLAGS.reference_row if row in tabled]
  figure = _output_stem() + '.png'  # beside its table, one per dataset
  shown = [row for row in _rows() if seeds[0] in run_records.measured(tabled.get(row, {}))]
  for row in shown:  # also the runs recorded before their grids were kept
    keep_images(row, seeds[0])
  missing = [row for row in shown if not _has_kept_images(row, seeds[0])]
  if shown and not missing:
    os.makedirs(os.path.dirname(figure) or '.', exist_ok=True)
    samples_and_reconstructions_figure(figure, shown, seeds[0])
  elif shown:
    print(f'{figure} not drawn again: seed {seeds[0]}\'s grids of {missing} are neither '
          f'kept in {_output_stem()}_images nor in {FLAGS.workdir}.')
  report = '\n\n'.join([
      '# Representations: every way of learning an encoder, one set of networks',
      reporting.provenance(commit, recorder.wall_s,
                           f', {FLAGS.jobs} run(s) at a time') + '  \n'
      f'Runs {run_records.commits(tabled)} (each run\'s numbers: '
      f'[{os.path.basename(records_file)}]({os.path.basename(records_file)})).  \n'
      f'{run_records.machines(tabled)}.',
      f'Every row: `{FLAGS.config}` ({steps} steps; the two-phase rows train a GAN for the '
      f'first {1 - FLAGS.inference_fraction:.0%} of them, then inference), seeds '
      f'{", ".join(map(str, seeds))}. Mean +- sample std (ddof=1) over seeds. A run that '
      'diverged (non-finite losses or gradients; the trainer stops it, and the same command '
      'stops at the same step) is counted beside the runs, with its step, and has no '
      'numbers: its row\'s are those of its other seeds. L2-SVMs: '
      f'{FLAGS.num_svms} per run and label count on E(x), {FLAGS.num_c} values of C. The '
      'last column is BiGAN\'s own Table 1, on MNIST, not this dataset. '
      + PIXELS_PAPER_NOTE + ' The runs of one table may come from several invocations and '
      'machines: each run\'s wall time is in its row, the wall time above is this '
      'invocation\'s.',
      markdown_table(tabled, seeds),
      *([f'Paired by seed against {", ".join(f"`{r}`" for r in references)} (a table '
         'each): each row\'s difference in points (its number minus the reference\'s on the '
         'same seed: higher 1-NN accuracy and reconstruction agreement, lower SVM error are '
         'better), the mean over the seeds both have and its 95 % t interval; * where the '
         'interval excludes 0. A difference without * is not a finding, and one with * is '
         'weaker than it looks among many: of n intervals around true differences of 0, '
         'about n / 20 exclude 0 by chance.'] if references else []),
      *[paired_differences_table(tabled, seeds, reference) for reference in references],
      f'![samples and reconstructions per row, seed {seeds[0]}]({os.path.basename(figure)})',
      ''])
  print(report)
  if FLAGS.output:
    kept = _output_stem() + '_images'
    kept_images = sorted(os.path.join(kept, f) for f in os.listdir(kept)) if os.path.isdir(
        kept) else []
    recorder.write_report(
        FLAGS.output, report,
        outputs=[records_file] + ([figure] if shown else []) + kept_images,
        title=f'Representations of {FLAGS.config}: every way of learning an encoder',
        numbers={'rows': run_records.summary(tabled)},
        trained_at=sorted({c for seeds in tabled.values() for r in seeds.values()
                           for c in r['trained_at']}))


if __name__ == '__main__':
  app.run(main)
