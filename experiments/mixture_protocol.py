"""The ALI paper's mixture protocol: many runs with random optimisation settings.

  python experiments/mixture_protocol.py --output_dir=experiments/results

The paper (docs/papers.md section 4) compares ALI with a GAN over 10 runs "with
random learning rate, beta1 and initialisation" and reports the modes covered
out of 25 (ALI 13.4 +- 5.8, min 8, max 25; GAN 10.4 +- 9.2, min 1, max 22). It
gives no ranges, so these are ours: learning rate log-uniform over
[1e-5, 1e-3], beta1 uniform over [0.5, 0.9], initialisation std log-uniform
over [0.005, 0.05]. Run i of every method draws the same settings
(numpy.random.default_rng(--draw_seed + i)) and trains with seed i, so methods
are compared on paired draws. Every run is `main.py --config=configs/mixture_paper.py`
(the paper's networks, constant learning rate) with --num_train_steps steps,
in <workdir>/<method>/run_<i>; finished runs are only read again. The table
(modes covered mean +- std, min, max: the paper's count and the stricter ones
of ali_jax/evaluation/) goes to <output_dir>/mixture_protocol.md with the
command, commit and wall time (each run's too). --notrain tables the finished
runs only. --quick: configs/mixture_tiny.py, a few steps.
"""
import concurrent.futures
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout: configs/ (and ali_jax/) live here

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
import numpy as np

from ali_jax.settings import choices
from ali_jax.training import methods as methods_lib
from experiments import launch
from experiments import records
from experiments import reporting

FLAGS = flags.FLAGS
flags.DEFINE_list('methods', ['ali', 'gan', 'bigan'], 'Methods to compare.')
flags.DEFINE_integer('runs', 10, 'Runs per method (the paper: 10).')
flags.DEFINE_integer('draw_seed', 0, 'Run i draws its settings from default_rng(this + i).')
flags.DEFINE_integer('num_train_steps', 200_000,
                     'Steps per run (the paper: 200 epochs of 100,000 points = 200,000).')
flags.DEFINE_integer('jobs', 2, 'Runs trained at the same time (one CPU core each).')
flags.DEFINE_string('workdir', 'runs/mixture_protocol', 'Parent of the runs.')
flags.DEFINE_string('output_dir', None, 'Where to write the table (default: --workdir).')
flags.DEFINE_bool('quick', False, 'configs/mixture_tiny.py and few steps: a smoke test.')
flags.DEFINE_bool('train', True, 'Train unfinished runs; --notrain tables the finished ones '
                  'only (a sweep spread over several sessions).')

# Our ranges for the paper's random settings (it gives none).
LEARNING_RATE_RANGE = (1e-5, 1e-3)  # log-uniform
BETA1_RANGE = (0.5, 0.9)            # uniform
INIT_STD_RANGE = (0.005, 0.05)      # log-uniform
QUICK_STEPS = 8
# The paper's mode counts over its 10 runs: (mean, std, min, max).
PAPER_MODES = {'ali': (13.4, 5.8, 8, 25), 'gan': (10.4, 9.2, 1, 22)}
METHOD_OVERRIDES = {choices.BIGAN: {'model.encoder': 'deterministic'}}
MODE_COUNTS = (  # (eval.json key, heading)
    ('modes_covered', 'modes covered (the paper\'s count)'),
    ('modes_covered_high_quality', 'modes with a sample within 3 std'),
)
SAMPLE_METRICS = (  # (eval.json key, heading, number format): what the counts hide
    ('high_quality_fraction', 'samples within 3 std of a centre', '{:.1%}'),
    ('mode_kl_to_uniform', 'KL(mode shares, uniform)', '{:.3f}'),
    ('reconstruction_same_mode_fraction', 'reconstructions in the right mode', '{:.1%}'),
)


def draw_settings(index, draw_seed=0):
  """Run `index`'s random learning rate, beta1 and initialisation std."""
  rng = np.random.default_rng(draw_seed + index)
  log_uniform = lambda low, high: float(np.exp(rng.uniform(np.log(low), np.log(high))))
  return {'optimizer.learning_rate': log_uniform(*LEARNING_RATE_RANGE),
          'optimizer.b1': float(rng.uniform(*BETA1_RANGE)),
          'model.init_std': log_uniform(*INIT_STD_RANGE)}


def _steps():
  return QUICK_STEPS if FLAGS.quick else FLAGS.num_train_steps


def run_overrides(method, index):
  """main.py's config overrides of run `index` of `method`."""
  steps = _steps()
  overrides = {'method': method, 'seed': index, 'num_train_steps': steps,
               'optimizer.schedule': 'constant',
               **draw_settings(index, FLAGS.draw_seed), **METHOD_OVERRIDES.get(method, {})}
  if not FLAGS.quick:  # evaluate and save at the end only, log ten times
    overrides.update(eval_every_steps=steps, checkpoint_every_steps=steps,
                     log_every_steps=max(steps // 10, 1))
  else:  # a smoke test: with a 1-step log window only one train step is compiled
    overrides['log_every_steps'] = 1
  return overrides


def _config_file():
  return 'configs/mixture_tiny.py' if FLAGS.quick else 'configs/mixture_paper.py'


def _workdir(method, index):
  return os.path.join(FLAGS.workdir, method, f'run_{index}')


def summary_table(results):
  """Per method: each mode count's mean +- std [min, max], beside the paper's."""
  headings = [heading for _, heading in MODE_COUNTS] + [h for _, h, _ in SAMPLE_METRICS]
  lines = ['| method | runs | ' + ' | '.join(headings) + ' | the paper\'s modes (10 runs) |',
           '|---' * (len(headings) + 3) + '|']
  for method, runs in results.items():
    cells = []
    for key, _ in MODE_COUNTS:
      cells.append(reporting.count_range([metrics[key] for metrics in runs.values()]))
    for key, _, number_format in SAMPLE_METRICS:
      if any(key not in metrics for metrics in runs.values()):
        cells.append('n/a')  # a GAN has no encoder to reconstruct with
        continue
      cells.append(reporting.mean_std([metrics[key] for metrics in runs.values()],
                                      number_format))
    paper = PAPER_MODES.get(method)
    paper_cell = f'{paper[0]} +- {paper[1]} [{paper[2]}, {paper[3]}]' if paper else 'not reported'
    lines.append(f'| {method} | {len(runs)} | ' + ' | '.join(cells) + f' | {paper_cell} |')
  return '\n'.join(lines)


def per_run_table(results):
  keys = [key for key, _ in MODE_COUNTS] + [key for key, _, _ in SAMPLE_METRICS]
  lines = ['| method | run | learning rate | beta1 | init std | ' + ' | '.join(keys)
           + ' | wall s |', '|---' * (len(keys) + 6) + '|']
  for method, runs in results.items():
    for index, metrics in runs.items():
      s = draw_settings(index, FLAGS.draw_seed)
      lines.append(f'| {method} | {index} | {s["optimizer.learning_rate"]:.2e} | '
                   f'{s["optimizer.b1"]:.3f} | {s["model.init_std"]:.4f} | '
                   + ' | '.join(f'{metrics[k]:.4g}' if k in metrics else 'n/a' for k in keys)
                   + f' | {launch.run_wall_s(_workdir(method, index)):.0f} |')
  return '\n'.join(lines)


def main(argv):
  del argv
  launch.check_choices('methods', FLAGS.methods, methods_lib.MIXTURE_METHODS)
  recorder = records.Recorder.from_flags(FLAGS)
  runs = [(method, index) for index in range(FLAGS.runs) for method in FLAGS.methods]
  if not FLAGS.train:
    runs = [(method, index) for method, index in runs
            if launch.is_finished(_workdir(method, index), run_overrides(method, index))]
  methods_with_runs = {method for method, _ in runs}
  results = {method: {} for method in FLAGS.methods if method in methods_with_runs}
  with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
    futures = {pool.submit(launch.train_run, _config_file(), _workdir(method, index),
                           run_overrides(method, index), skip_finished=True): (method, index)
               for method, index in runs}
    for future in concurrent.futures.as_completed(futures):
      method, index = futures[future]
      results[method][index] = future.result()
      print(f'{method} run {index}: {results[method][index]["modes_covered"]} modes', flush=True)
  results = {m: dict(sorted(r.items())) for m, r in results.items()}
  report = '\n\n'.join([
      f'# The paper\'s mixture protocol: {len(results)} methods x up to {FLAGS.runs} runs',
      reporting.provenance(recorder.commit, recorder.wall_s,
                           f' ({FLAGS.jobs} runs at a time)' if FLAGS.train
                           else ', reading finished runs only'),
      f'Every run: {_config_file()} for {_steps()} steps at a constant learning rate, run i with '
      f'seed i and settings drawn from default_rng({FLAGS.draw_seed} + i): learning rate '
      f'log-uniform over {list(LEARNING_RATE_RANGE)}, beta1 uniform over {list(BETA1_RANGE)}, '
      f'initialisation std log-uniform over {list(INIT_STD_RANGE)} (the paper gives no '
      'ranges). Modes covered out of 25 on 10,000 samples (ali_jax/evaluation/); mean +- '
      'sample std (ddof=1) [min, max] over runs. Each run\'s wall time is in the last '
      'column (the runs of one table may come from several invocations; the wall time '
      'above is this one\'s).',
      summary_table(results), '## Every run', per_run_table(results), ''])
  output_dir = FLAGS.output_dir or FLAGS.workdir
  recorder.write_report(os.path.join(output_dir, 'mixture_protocol.md'), report,
                        title=f"The paper's mixture protocol: {', '.join(results)}",
                        numbers={'runs': {m: {str(i): r for i, r in runs.items()}
                                          for m, runs in results.items()}})
  print(report)


if __name__ == '__main__':
  app.run(main)
