"""The paper's case for learning inference jointly, on the 25-Gaussian mixture.

  python experiments/mixture_comparison.py --output_dir=experiments/results

Trains every method (ali_jax/training/methods.py) on the mixture over several seeds
with the same networks and trainer (latent_regressor and post_hoc start from
the final state of the gan run of their seed, which is exactly their own GAN
phase: config.method_options.gan_workdir), then writes mixture_comparison.md (modes
covered mean +- std, min and max; high-quality samples; reconstructions in the
right mode; distance of q(z) to the prior) and mixture_comparison.png (one row
per method: samples, reconstructions, q(z); seed 0), with the command, commit
and wall time that made them. Each run is `main.py` in
<workdir>/<method>/seed_<n>; run the script again and finished runs are only
re-evaluated. --quick shrinks everything to seconds (for tests).
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ (and ali_jax/) live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt

import ali_jax
from ali_jax import data
from ali_jax.data import mixture
from ali_jax.evaluation import evaluator
from ali_jax.settings import choices
from ali_jax.settings import datasets
from ali_jax.training import methods as methods_lib
from experiments import launch
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('methods', list(methods_lib.MIXTURE_METHODS), 'Methods to compare.')
flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'Seeds to train each method with.')
flags.DEFINE_integer('num_train_steps', 10_000,
                     'Steps of every method; the two-phase methods (latent_regressor, '
                     'post_hoc) train this GAN, then inference for --inference_steps more.')
flags.DEFINE_integer('inference_steps', 2_500,
                     'Second-phase steps of latent_regressor and post_hoc.')
flags.DEFINE_integer('jobs', 2, 'Runs trained at the same time (one CPU core each).')
flags.DEFINE_string('workdir', 'runs/mixture_comparison', 'Parent of the runs.')
flags.DEFINE_string('output_dir', None, 'Where to write the table and figure '
                    '(default: --workdir).')
flags.DEFINE_bool('quick', False, 'configs/mixture_tiny.py and few steps: a smoke test.')

# Settings that a method needs beyond config.method (see ali_jax/training/methods.py).
METHOD_OVERRIDES = {
    choices.BIGAN: {'model.encoder': 'deterministic'},
    choices.VAE: {'model.encoder': 'gaussian'},
}
SUMMARY_COLUMNS = (  # (metric, heading, format)
    ('modes_covered_high_quality', 'modes with a sample within 3 std', '{:.1f}'),
    ('high_quality_fraction', 'high-quality samples', '{:.1%}'),
    ('mode_kl_to_uniform', 'KL(mode shares, uniform)', '{:.3f}'),
    ('reconstruction_same_mode_fraction', 'reconstructions in the right mode', '{:.1%}'),
    ('latent_frechet_distance', 'FD(q(z), p(z))', '{:.3f}'),
)


QUICK_STEPS = (8, 4)  # --quick: (steps, inference steps) of configs/mixture_tiny.py


def _steps():
  return QUICK_STEPS if FLAGS.quick else (FLAGS.num_train_steps, FLAGS.inference_steps)


def _config_file():
  return 'configs/mixture_tiny.py' if FLAGS.quick else 'configs/mixture.py'


def _workdir(method, seed):
  return os.path.join(FLAGS.workdir, method, f'seed_{seed}')


def _takes_gan_phase(method):
  """Whether `method`'s GAN phase is taken from the gan run of the same seed."""
  return method in choices.TWO_PHASE_METHODS and choices.GAN in FLAGS.methods


def run_flags(method, seed):
  """main.py's --config.* flags for one run."""
  steps, inference_steps = _steps()
  overrides = {'method': method, 'seed': seed, **METHOD_OVERRIDES.get(method, {})}
  if method in choices.TWO_PHASE_METHODS:
    steps += inference_steps
    overrides['method_options.inference_steps'] = inference_steps
  if _takes_gan_phase(method):
    overrides['method_options.gan_workdir'] = os.path.abspath(_workdir(choices.GAN, seed))
  overrides['num_train_steps'] = steps
  if not FLAGS.quick:  # evaluate and save only at the end: the runs are short
    overrides.update(eval_every_steps=steps, checkpoint_every_steps=steps,
                     log_every_steps=steps // 10)
  else:  # a smoke test: with a 1-step log window only one train step is compiled
    overrides['log_every_steps'] = 1
  return [f'--config.{k}={v}' for k, v in overrides.items()]


def train_one(method, seed, gan_run=None):
  """Trains (or re-evaluates) one run in a fresh process; returns (eval metrics, wall s).

  gan_run: the future of the gan run whose final state this run starts from.
  """
  if gan_run is not None:
    gan_run.result()  # raises if that run failed
  workdir = _workdir(method, seed)
  command = [sys.executable, os.path.join(REPO, 'main.py'), f'--config={_config_file()}',
             f'--workdir={workdir}'] + run_flags(method, seed)
  environment = dict(os.environ, PYTHONPATH=REPO)
  start = time.time()
  result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
  if result.returncode:
    raise RuntimeError(f'{" ".join(command)} failed:\n{result.stderr[-3000:]}')
  with open(os.path.join(workdir, 'eval.json')) as f:
    return json.load(f), time.time() - start


def summary_table(results, methods):
  """Per method: modes covered (the paper's count) mean +- std, min, max, and means."""
  lines = ['| method | modes covered (paper\'s count): mean +- sample std [min, max] | '
           + ' | '.join(heading for _, heading, _ in SUMMARY_COLUMNS) + ' |',
           '|---' * (len(SUMMARY_COLUMNS) + 2) + '|']
  for method in methods:
    runs = list(results[method].values())
    cells = [reporting.count_range([m['modes_covered'] for m, _ in runs])]
    for key, _, fmt in SUMMARY_COLUMNS:
      values = [m[key] for m, _ in runs if key in m]
      cells.append(reporting.mean_std(values, fmt) if values else 'n/a (no encoder)')
    lines.append(f'| {method} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def per_run_table(results, methods):
  keys = ['modes_covered'] + [key for key, _, _ in SUMMARY_COLUMNS]
  lines = ['| method | seed | ' + ' | '.join(keys) + ' | wall s |', '|---' * (len(keys) + 3) + '|']
  for method in methods:
    for seed, (metrics, wall) in results[method].items():
      cells = [f'{metrics[k]:.4g}' if k in metrics else '' for k in keys]
      lines.append(f'| {method} | {seed} | ' + ' | '.join(cells) + f' | {wall:.0f} |')
  return '\n'.join(lines)


def comparison_figure(path, methods, seed):
  """One row per method: samples, reconstructions and q(z) of the run with `seed`."""
  columns = ('samples G(z)', 'reconstructions G(E(x))', 'q(z): E(x)')
  figure, axes = plt.subplots(len(methods), 3, figsize=(9, 3 * len(methods)), squeeze=False)
  for row, method in zip(axes, methods):
    model = ali_jax.load(_workdir(method, seed))
    dataset = data.load_dataset(model.settings.data)
    heldout = dataset.heldout(datasets.TEST)
    _, arrays = evaluator.evaluate_mixture(
        model, heldout, num_samples=model.settings.evaluation.num_eval_samples, seed=seed,
        with_encoder=methods_lib.trains_encoder(model.settings))
    modes, _ = mixture.assign_components(heldout.images)
    panels = (arrays['samples'], arrays.get('reconstructions'), arrays.get('latents'))
    for column, (ax, points, title) in enumerate(zip(row, panels, columns)):
      if points is None:
        ax.text(0.5, 0.5, 'no encoder', ha='center', va='center', transform=ax.transAxes)
      else:
        ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4, rasterized=True,
                   c=None if column == 0 else modes, cmap=None if column == 0 else 'tab20')
      limit = 4 if column == 2 else 6
      ax.set_xlim(-limit, limit)
      ax.set_ylim(-limit, limit)
      ax.set_aspect('equal')
      ax.set_xticks([])
      ax.set_yticks([])
      ax.set_title(title, fontsize=9)
    row[0].set_ylabel(method, fontsize=11)
  figure.tight_layout()
  figure.savefig(path, dpi=80)
  plt.close(figure)


def main(argv):
  del argv
  launch.check_choices('methods', FLAGS.methods, methods_lib.MIXTURE_METHODS)
  seeds = [int(s) for s in FLAGS.seeds]
  # The runs that start from a gan run queue last, so they seldom wait for it.
  runs = sorted(((method, seed) for seed in seeds for method in FLAGS.methods),
                key=lambda run: _takes_gan_phase(run[0]))
  recorder = records.Recorder.from_flags(FLAGS)
  results = {method: {} for method in FLAGS.methods}
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    futures, gan_runs = {}, {}
    for method, seed in runs:
      future = pool.submit(train_one, method, seed,
                           gan_runs.get(seed) if _takes_gan_phase(method) else None)
      futures[future] = (method, seed)
      if method == choices.GAN:
        gan_runs[seed] = future
    for future in concurrent.futures.as_completed(futures):
      method, seed = futures[future]
      results[method][seed] = future.result()
      print(f'{method} seed {seed}: {results[method][seed][0]}', flush=True)
  results = {m: dict(sorted(r.items())) for m, r in results.items()}

  output_dir = FLAGS.output_dir or FLAGS.workdir
  os.makedirs(output_dir, exist_ok=True)
  figure = os.path.join(output_dir, 'mixture_comparison.png')
  comparison_figure(figure, FLAGS.methods, seeds[0])
  report = '\n\n'.join([
      f'# Mixture comparison: {len(FLAGS.methods)} methods x {len(seeds)} seeds',
      reporting.provenance(recorder.commit, recorder.wall_s, f' ({FLAGS.jobs} runs at a time)'),
      f'Every method: {_config_file()}, {_steps()[0]} steps; latent_regressor '
      f'and post_hoc then {_steps()[1]} inference steps with G frozen'
      + (' (starting from the gan run of their seed: its final state is exactly their '
         'GAN phase; their wall time is the second phase only)'
         if any(map(_takes_gan_phase, FLAGS.methods)) else '') + '. Metrics '
      'on 10,000 samples and 10,000 held-out points (ali_jax/evaluation/metrics.py); mean +- '
      'sample std (ddof=1) over seeds.',
      summary_table(results, FLAGS.methods),
      f'![samples, reconstructions and q(z) per method, seed {seeds[0]}]'
      f'({os.path.basename(figure)})',
      '## Every run', per_run_table(results, FLAGS.methods), ''])
  recorder.write_report(
      os.path.join(output_dir, 'mixture_comparison.md'), report, outputs=[figure],
      title=f'The 2-D mixture: {len(FLAGS.methods)} methods x {len(seeds)} seeds',
      numbers={'runs': {m: {str(s): run[0] for s, run in r.items()} for m, r in results.items()}})
  print(report)


if __name__ == '__main__':
  app.run(main)
