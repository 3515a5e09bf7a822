"""The experiment scripts run end to end in their quick settings."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn import svm

from ali_jax.runs import workdir as workdir_lib
from ali_jax.training import trainer
from configs import digits
from configs import fashion_mnist
from experiments import launch
from experiments import linear_probe
from experiments import mixture_protocol
from experiments import records
from experiments import reporting
from experiments import run_records
from experiments import svm_protocol
from tests import helpers

REPO = helpers.REPO


def _run_script(*args, timeout=600):
  return subprocess.run([sys.executable] + list(args), cwd=REPO, check=True,
                        capture_output=True, text=True, timeout=timeout).stdout


def test_seeds_writes_a_table_and_copies_seed_0s_figures(tmp_path):
  output = tmp_path / 'table.md'
  _run_script('experiments/seeds.py', '--config=configs/mixture_tiny.py', '--seeds=0,1',
              '--jobs=2', '--set=num_train_steps=8', '--set=log_every_steps=1',
              f'--workdir={tmp_path / "runs"}',
              f'--output={output}', f'--figures_dir={tmp_path / "figures"}')
  table = output.read_text()
  assert '| 0 |' in table and '| 1 |' in table and '**median**' in table
  assert '| modes_covered |' in table and '--set=num_train_steps=8' in table  # in its command
  assert table.startswith('# mixture_tiny with num_train_steps=8, log_every_steps=1: 2 seeds')
  assert json.loads((tmp_path / 'runs' / 'seed_1' / 'eval.json').read_text())['step'] == 8
  assert (tmp_path / 'figures' / 'run_mixture_tiny_samples.png').exists()
  assert (tmp_path / 'figures' / 'run_mixture_tiny_eval.json').exists()
  # Each output has its record: the table's (with every seed's numbers) and the figures'.
  record = records.load(str(tmp_path / 'table.record.json'))
  assert record['numbers']['by_seed']['1']['step'] == 8
  assert record['config']['seeds'] == ['0', '1'] and record['outputs'] == ['table.md']
  assert record['numbers']['tables'][0]['rows'][0][0] == '0'
  # The spread is the sample std (ddof=1) of the seeds' numbers.
  covered = [record['numbers']['by_seed'][s]['modes_covered'] for s in ('0', '1')]
  std_row = record['numbers']['tables'][0]['rows'][-1]
  assert std_row[0] == '**std (ddof=1)**' and std_row[1] == f'{np.std(covered, ddof=1):.4g}'
  figures = records.load(str(tmp_path / 'figures' / 'run_mixture_tiny_eval.record.json'))
  assert 'run_mixture_tiny_samples.png' in figures['outputs']


def test_mixture_protocol_draws_settings_per_run_and_tables_them(tmp_path):
  _run_script('experiments/mixture_protocol.py', '--quick', '--methods=ali,gan', '--runs=2',
              f'--workdir={tmp_path / "runs"}')
  table = (tmp_path / 'runs' / 'mixture_protocol.md').read_text()
  assert '| ali | 2 |' in table and '13.4 +- 5.8 [8, 25]' in table
  assert '| gan | 2 |' in table and '10.4 +- 9.2 [1, 22]' in table
  assert re.search(r'\| ali \| 1 \|.* \| \d+ \|$', table, re.MULTILINE)  # its wall s
  assert re.search(r'^\| ali \| 2 \|.*\d% \+- [\d.]+% \| 13\.4', table, re.MULTILINE)
  assert re.search(r'^\| gan \| 2 \|.* \| n/a \| 10\.4', table, re.MULTILINE)  # no encoder
  for index in (0, 1):  # run i of each method: seed i and the same drawn settings
    configs = [json.loads((tmp_path / 'runs' / method / f'run_{index}' / 'config.json')
                          .read_text()) for method in ('ali', 'gan')]
    settings = mixture_protocol.draw_settings(index)
    for config in configs:
      assert config['seed'] == index
      assert config['optimizer']['learning_rate'] == pytest.approx(
          settings['optimizer.learning_rate'])
      assert config['optimizer']['b1'] == pytest.approx(settings['optimizer.b1'])
      assert config['model']['init_std'] == pytest.approx(settings['model.init_std'])
  draws = [mixture_protocol.draw_settings(i) for i in range(200)]
  for key, (low, high) in (('optimizer.learning_rate', mixture_protocol.LEARNING_RATE_RANGE),
                           ('optimizer.b1', mixture_protocol.BETA1_RANGE),
                           ('model.init_std', mixture_protocol.INIT_STD_RANGE)):
    values = [d[key] for d in draws]
    assert low <= min(values) < max(values) <= high and len(set(values)) == 200
  # --notrain tables the finished runs only: no bigan row, no third run started
  _run_script('experiments/mixture_protocol.py', '--quick', '--methods=ali,gan,bigan',
              '--runs=3', '--notrain', f'--workdir={tmp_path / "runs"}')
  table = (tmp_path / 'runs' / 'mixture_protocol.md').read_text()
  assert '| ali | 2 |' in table and '| gan | 2 |' in table and '| bigan |' not in table
  assert not (tmp_path / 'runs' / 'ali' / 'run_2').exists()


# Three methods of different kinds (stochastic encoder, no encoder, two phases):
# every method's training is tested in tests/training/test_methods.py.
COMPARED = ('ali', 'gan', 'post_hoc')


@pytest.mark.timeout(600)  # 6 short runs as subprocesses: as long as _run_script allows
def test_mixture_comparison_tables_methods_over_seeds(tmp_path):
  _run_script('experiments/mixture_comparison.py', '--quick', '--seeds=0,1',
              f'--methods={",".join(COMPARED)}', f'--workdir={tmp_path / "runs"}',
              f'--output_dir={tmp_path / "out"}')
  report = (tmp_path / 'out' / 'mixture_comparison.md').read_text()
  for method in COMPARED:
    row = re.search(rf'^\| {method} \| (\d+\.\d) \+- (\d+\.\d) \[(\d+), (\d+)\]', report,
                    re.MULTILINE)
    assert row, method
    mean, _, low, high = map(float, row.groups())
    assert 1 <= low <= mean <= high <= 25
    for seed in (0, 1):
      assert (tmp_path / 'runs' / method / f'seed_{seed}' / 'eval.json').exists()
  assert 'n/a (no encoder)' in re.search(r'^\| gan \|.*$', report, re.MULTILINE).group()
  assert (tmp_path / 'out' / 'mixture_comparison.png').stat().st_size > 10_000


def _tiny_digits_run(workdir, data_dir, **changes):
  config = digits.get_config()
  config.update_from_flattened_dict({
      'batch_size': 8, 'num_train_steps': 3, 'log_every_steps': 1,
      'checkpoint_every_steps': 3, 'eval_every_steps': 100, 'data.data_dir': str(data_dir),
      'data.num_heldout': 6, 'data.num_eval_samples': 4, 'evaluation.class_metrics': False,
      **changes})
  trainer.train_and_evaluate(config, str(workdir))


def test_feature_protocols_read_a_trained_encoder(tmp_path):
  """semi_supervised.py's SVMs and linear_probe.py on one tiny run (an image
  model compiles slowly), listed under two names: the two-phase methods
  themselves are tested on the mixture (test_methods.py)."""
  _tiny_digits_run(tmp_path / 'ali', tmp_path / 'tfds')
  output = tmp_path / 'table.md'
  _run_script('experiments/semi_supervised.py', f'--models=ali={tmp_path / "ali"},'
              f'again={tmp_path / "ali"}', '--num_svms=2', '--num_c=3',
              '--labels=20', f'--output={output}')
  report = output.read_text()
  rows = re.findall(r'^\| (raw pixels|ali|again)\b.*?\| (\d+) \| '
                    r'(\d+\.\d+)% \+- .*\| (\d+) \| (\d+\.\d+)% \|$', report, re.MULTILINE)
  assert [r[0] for r in rows] == ['raw pixels', 'ali', 'again']
  assert rows[1][1:] == rows[2][1:]  # the same encoder gives the same numbers
  # raw pixels: 32x32; encoders: the mean (32) and the last three hidden layers.
  assert rows[0][1] == '1024' and rows[1][1] == str(32 + 10 * 10 * 64 + 4 * 4 * 64 + 128)
  assert rows[1][3] == '32'
  for _, _, error, _, accuracy in rows:
    assert 0 <= float(error) <= 100 and 0 <= float(accuracy) <= 100

  output = tmp_path / 'probe.md'
  _run_script('experiments/linear_probe.py', f'--workdirs=ali={tmp_path / "ali"}',
              '--hidden_layers=1', '--crelu', '--epochs=2', '--weight_decays=0,0.1',
              f'--output={output}')
  rows = re.findall(r'^\| (ali \| ali|raw pixels \| -) \| (\d+|-) \| (\d+) \| (\d+) '
                    r'\| ([0-9.e-]+) \| (\d+\.\d+)% \| (\d+\.\d+)% \|$', output.read_text(),
                    re.MULTILINE)
  assert [row[0] for row in rows] == ['ali | ali', 'raw pixels | -']
  # The mean (32) and the last hidden layer (128), and the 32x32 pixels, doubled by CReLU.
  assert [row[2] for row in rows] == [str(2 * (32 + 128)), str(2 * 32 * 32)]
  for row in rows:
    top1, top5 = float(row[5]), float(row[6])
    assert row[4] in ('0', '0.1') and 0 <= top1 <= top5 <= 100


@pytest.mark.timeout(600)  # a training and two scripts, each its own process
def test_validation_scripts_repeat_the_trainers_validation_numbers(tmp_path):
  """mean_reconstruction.py and code_coverage.py on one tiny run."""
  # The final evaluation on the validation split, with the class metrics (digits' classifier);
  # seed 1, so that a script drawing its own noise at seed 0 would miss.
  _tiny_digits_run(tmp_path / 'ali', tmp_path / 'tfds', seed=1, **{
      'evaluation.class_metrics': True, 'data.final_split': 'validation',
      'data.num_heldout': 40, 'data.num_eval_samples': 40})
  output = tmp_path / 'mean.md'
  _run_script('experiments/mean_reconstruction.py', f'--runs=ali={tmp_path / "ali"}',
              f'--output={output}')
  measured = records.load(str(tmp_path / 'mean.record.json'))['numbers']['ali']
  evaluation = json.loads((tmp_path / 'ali' / workdir_lib.EVAL_FILE).read_text())
  assert measured['step'] == evaluation['step'] == 3
  for key, logged in (('sampled', 'reconstruction_class_agreement'),
                      ('mean', 'mean_reconstruction_class_agreement'),
                      ('posterior_mean_share', 'posterior_mean_share'),
                      ('posterior_std', 'posterior_std')):
    np.testing.assert_allclose(measured[key], evaluation[logged], rtol=1e-5, err_msg=key)
  assert re.search(r'^\| ali \| \d+\.\d+% \| \d+\.\d+% \|', output.read_text(), re.M)

  _run_script('experiments/code_coverage.py', f'--runs=ali={tmp_path / "ali"}',
              f'--output={tmp_path / "coverage.md"}')
  coverage_record = records.load(str(tmp_path / 'coverage.record.json'))
  assert coverage_record['config']['runs'] == [f'ali={tmp_path / "ali"}']  # its flags kept
  coverage = coverage_record['numbers']['ali']
  # Samples from the prior: the trainer's own draw, so its class KL to uniform.
  np.testing.assert_allclose(coverage['kl_prior'], evaluation['sample_class_kl_to_uniform'],
                             rtol=1e-6)
  assert coverage['code_std_min'] <= coverage['code_std_median'] <= coverage['code_std_max']
  assert 0 < coverage['code_eigenvalue_min'] <= coverage['code_eigenvalue_max']
  assert coverage['code_frechet_distance'] > 0 and coverage['step'] == 3
  for key in ('kl_fitted', 'kl_codes'):
    assert 0 <= coverage[key] <= np.log(10), key


@pytest.mark.timeout(600)
def test_semi_supervised_comparison_trains_every_row(tmp_path):
  output = tmp_path / 'table.md'
  shrink = ['num_train_steps=2', 'batch_size=8', 'checkpoint_every_steps=2',
            'eval_every_steps=100', f'data.data_dir={tmp_path / "tfds"}',
            'data.num_heldout=20', 'data.num_eval_samples=4', 'evaluation.class_metrics=False',
            'log_every_steps=1']
  command = ['experiments/semi_supervised_comparison.py', '--config=configs/digits.py',
             '--ali_config=configs/digits.py', '--labels=20', '--seeds=0', '--num_svms=1',
             '--num_c=2', f'--workdir={tmp_path / "runs"}', f'--output={output}',
             *[f'--set={s}' for s in shrink]]
  _run_script(*command)
  report = output.read_text()
  log = tmp_path / 'runs' / 'k_plus_1_20' / 'seed_0' / 'sweep_log.txt'
  log_size = log.stat().st_size
  _run_script(*command)  # finished runs are read, not run again
  assert log.stat().st_size == log_size
  assert output.read_text().split('Test error')[1] == report.split('Test error')[1]
  for row, workdir in (('K+1 semi-supervised ALI', 'k_plus_1_20'),
                       ('supervised, same E and D', 'supervised_20'),
                       ('L2-SVM on unsupervised ALI', 'ali')):
    line = re.search(rf'^\| {re.escape(row)}.*\| 20 \| (\d+\.\d+)% \| .*\| (\d+) \|$',
                     report, re.MULTILINE)
    assert line, row
    assert 0 <= float(line.group(1)) <= 100
    config = json.loads((tmp_path / 'runs' / workdir / 'seed_0' / 'config.json').read_text())
    assert config['num_train_steps'] == 2 and config['seed'] == 0
  k_plus_1 = json.loads((tmp_path / 'runs' / 'k_plus_1_20' / 'seed_0' / 'eval.json').read_text())
  assert f'{k_plus_1["test_error"]:.2%}' in report


@pytest.mark.timeout(900)
def test_representation_comparison_trains_rows_and_tables_them(tmp_path):
  output = tmp_path / 'out' / 'table.md'
  shrink = ['num_train_steps=4', 'batch_size=8', 'checkpoint_every_steps=4',
            'eval_every_steps=100', f'data.data_dir={tmp_path / "tfds"}',
            'data.num_heldout=20', 'data.num_eval_samples=4', 'evaluation.class_metrics=False',
            'log_every_steps=1']
  flags = ['experiments/representation_comparison.py', '--config=configs/digits.py',
           '--rows=ali,bigan,latent_regressor', '--seeds=0', '--labels=20', '--num_svms=1',
           '--num_c=2', f'--workdir={tmp_path / "runs"}', f'--output={output}',
           *[f'--set={s}' for s in shrink]]
  _run_script(*flags)
  report = output.read_text()
  for row in ('raw pixels', 'ali', 'bigan', 'latent_regressor'):
    cells = re.search(rf'^\| {row} \| 1 \| - \| (\d+\.\d+)% \+- 0\.00% \|', report, re.M)
    assert cells and 0 <= float(cells.group(1)) <= 100, row
  # Deterministic: no encoder noise; then wall s, and BiGAN's MNIST number where its
  # Table 1 has the row (its latent regressor is bigan_latent_regressor, not this one).
  for row, paper in (('bigan', r'\d+\.\d+ %'), ('latent_regressor', '-')):
    assert re.search(rf'^\| {row} \|.* \| 0 \+- 0 \| \d+ \+- 0 \| {paper} \|$', report,
                     re.M), row
  # Each row against BiGAN's, paired by seed (one seed here: no interval; no 1-NN
  # without the class metrics).
  assert re.search(r'^\| latent_regressor \| 1 \| - \| [+-]\d+\.\d\d \| - \|$', report, re.M)
  ali_noise = re.search(r'^\| ali \|.* \| (\S+) \+- 0 \| \d+ \+- 0 \| - \|$', report, re.M)
  assert ali_noise and float(ali_noise.group(1)) > 0.1  # Gaussian: sigma starts near exp(0)
  assert '97.39 %' in report  # BiGAN's Table 1 beside it
  runs = tmp_path / 'runs'
  bigan = json.loads((runs / 'bigan' / 'seed_0' / 'config.json').read_text())
  assert (bigan['method'], bigan['model']['encoder']) == ('bigan', 'deterministic')
  regressor = json.loads((runs / 'latent_regressor' / 'seed_0' / 'config.json').read_text())
  assert regressor['method_options']['inference_steps'] == 1  # a quarter of 4 steps
  assert (tmp_path / 'out' / 'table.png').stat().st_size > 5_000  # named after the table
  # Each run's numbers are kept beside the table, with the commit that trained it...
  records = json.loads((tmp_path / 'out' / 'table.json').read_text())['runs']
  assert set(records) == {'ali', 'bigan', 'latent_regressor', 'raw pixels'}
  assert records['bigan']['0']['trained_at'] == [reporting.git_commit()]
  assert records['bigan']['0']['trained_on'] == [reporting.machine()]  # and the machine
  assert records['raw pixels']['0']['measured_on'] == reporting.machine()
  assert f'Machines: {reporting.machine()} (4 runs).' in report
  # ...so the table is made again from them alone once the runs are gone.
  shutil.rmtree(runs)
  (tmp_path / 'out' / 'table.png').unlink()  # the figure too, from each run's kept grids
  stdout = _run_script(*flags, '--notrain')
  table_lines = lambda text: [l for l in text.splitlines() if l.startswith('| ')]
  assert table_lines(output.read_text()) == table_lines(report)
  assert (tmp_path / 'out' / 'table.png').stat().st_size > 5_000
  # Against several rows, a paired table each.
  stdout = _run_script(*flags, '--notrain', '--reference_row=bigan,latent_regressor')
  assert '| representation minus bigan |' in stdout
  assert re.search(r'^\| bigan \| 1 \| - \| [+-]\d+\.\d\d \| - \|$',
                   stdout.split('minus latent_regressor')[1], re.M)
  # The figure was drawn from the grids kept beside the table...
  assert 'not drawn again' not in stdout
  kept = sorted(p.name for p in (tmp_path / 'out' / 'table_images').iterdir())
  assert kept == sorted(f'{row}_seed_0_{name}.png' for row in ('ali', 'bigan', 'latent_regressor')
                        for name in ('samples', 'reconstructions'))
  # ...and is left as it was, saying why, when a row's grids are nowhere.
  drawn = (tmp_path / 'out' / 'table.png').read_bytes()
  (tmp_path / 'out' / 'table_images' / 'bigan_seed_0_samples.png').unlink()
  stdout = _run_script(*flags, '--notrain')
  assert "grids of ['bigan'] are neither kept" in stdout
  assert (tmp_path / 'out' / 'table.png').read_bytes() == drawn
  # A run that diverged is tabled as such, from its log, and not started again.
  stopped = runs / 'ali_bounded_sigma' / 'seed_0'
  stopped.mkdir(parents=True)
  (stopped / launch.LOG_FILE).write_text(
      'step 2/4 | discriminator_loss 1.3\nFloatingPointError: Training diverged at step 3: '
      'non-finite discriminator_loss.\n')
  rows = next(f for f in flags if f.startswith('--rows='))
  _run_script(*[f for f in flags if f != rows], rows + ',ali_bounded_sigma', '--notrain')
  report = output.read_text()
  assert re.search(r'^\| ali_bounded_sigma \| 0 \(\+1 diverged: seed 0 at step 3\) \| - \| - \|',
                   report, re.M), report
  assert sorted(os.listdir(stopped)) == [launch.LOG_FILE]  # not launched
  records = json.loads((tmp_path / 'out' / 'table.json').read_text())['runs']
  assert records['ali_bounded_sigma']['0']['diverged_at_step'] == 3
  assert re.search(r'^\| bigan \| 1 \| - \| \d', report, re.M)  # the others as they were
  assert len(re.findall(r'^\| ali_bounded_sigma \|', report, re.M)) == 1  # nothing to pair


def test_run_records_round_trip_and_refuse_other_settings(tmp_path):
  path, settings = str(tmp_path / 'table.json'), {'config': 'a.py', 'set': ['seed=1']}
  assert run_records.load(path, settings) == {}
  runs = {'bigan': {2: run_records.record({'svm_100': 0.3}, 'abc', ['def'], 'cpu A', ['cpu B']),
                    0: run_records.record({'svm_100': 0.4}, 'abc', [], 'cpu A')}}
  run_records.save(path, settings, runs)
  assert run_records.load(path, settings) == runs  # seeds come back as ints
  assert run_records.commits(runs) == 'trained at def; measured at abc'
  # Where each run was trained (measured, if it had no training); older records name none.
  runs['bigan'][1] = {'values': {}, 'measured_at': 'abc', 'trained_at': []}
  assert run_records.machines(runs) == ('Machines: cpu B (1 run), cpu A (1 run); not named by '
                                        '1 run (recorded before machines were)')
  with pytest.raises(run_records.SettingsMismatch, match='Repeat those settings'):
    run_records.load(path, {**settings, 'set': ['seed=2']})
  (tmp_path / 'table.json').write_text('{"settings": {}}')
  with pytest.raises(ValueError, match='not a run-records file'):
    run_records.load(path, settings)


def test_machine_names_the_cpu_model_cores_and_widest_vector_isa(tmp_path):
  cpuinfo = tmp_path / 'cpuinfo'
  cpuinfo.write_text('processor\t: 0\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: Some CPU '
                     '9000\nstepping\t: 1\nflags\t\t: fpu sse4_2 avx avx2 fma\n\nprocessor\t: 1\n'
                     'model name\t: Some CPU 9000\n')
  # Family, model and stepping tell apart two hosts that share a model name.
  assert reporting.machine(str(cpuinfo)) == (
      f'Some CPU 9000, family 25 model 17 stepping 1, {os.cpu_count()} cores, avx2')
  assert reporting.machine(str(tmp_path / 'none')).endswith(', vector ISA unknown')


def test_svm_on_span_coordinates_is_the_svm_on_all_features():
  rng = np.random.default_rng(0)
  train_x, labels = rng.normal(size=(40, 300)), rng.integers(0, 3, 40)
  test_x = rng.normal(size=(100, 300))
  small_train, small_test = svm_protocol.span_coordinates(train_x, test_x)
  assert small_train.shape == (40, 40)  # 40 rows (with the constant) span 40 dimensions
  for c in (1e-3, 1.0, 100.0):
    full = svm.LinearSVC(C=c, tol=1e-9, max_iter=100_000).fit(train_x, labels)
    small = svm.LinearSVC(C=c, fit_intercept=False, tol=1e-9, max_iter=100_000).fit(
        small_train, labels)
    np.testing.assert_allclose(small.decision_function(small_test),
                               full.decision_function(test_x), atol=1e-5)


def test_class_balanced_subset():
  labels = np.repeat(np.arange(10), 30)
  subset = svm_protocol.class_balanced_subset(labels, 50, np.random.default_rng(0))
  assert len(set(subset)) == 50
  np.testing.assert_array_equal(np.bincount(labels[subset]), [5] * 10)


BENCHMARK_FIELDS = ('compile_s', 'step_ms_median', 'step_ms_min', 'step_ms_max',
                    'examples_per_s', 'gflops_per_step', 'achieved_gflops',
                    'matmul_peak_gflops', 'peak_rss_mb')


def test_benchmark_writes_every_field(tmp_path):
  out = tmp_path / 'bench.json'
  _run_script('experiments/benchmark.py', '--config=configs/mixture_tiny.py', '--steps=3',
              '--warmup=1', f'--json={out}')
  results = json.loads(out.read_text())
  for field in BENCHMARK_FIELDS:
    assert np.isfinite(results[field]) and results[field] >= 0, field
  assert results['step_ms_min'] <= results['step_ms_median'] <= results['step_ms_max']
  assert results['gflops_per_step'] > 0 and results['matmul_peak_gflops'] > 0
  assert results['batch_size'] == 16 and results['steps'] == 3
  # The memory split: the fixed cost before the steps, and XLA's account of the step.
  assert 0 < results['rss_before_steps_mb'] <= results['peak_rss_mb']
  assert results['step_argument_mb'] > 0 and results['step_temp_mb'] > 0
  assert 0 < results['step_donated_output_mb'] <= results['step_output_mb']


def test_benchmark_times_the_torch_step_and_the_input(tmp_path):
  out = tmp_path / 'torch.json'
  _run_script('experiments/benchmark.py', '--config=configs/digits.py', '--framework=torch',
              '--batch_size=4', '--steps=2', '--warmup=0', f'--json={out}')
  results = json.loads(out.read_text())
  for field in BENCHMARK_FIELDS:
    assert np.isfinite(results[field]), field
  assert results['framework'] == 'torch' and results['gflops_per_step'] > 0
  assert 0 < results['rss_before_steps_mb'] <= results['peak_rss_mb']
  out = tmp_path / 'input.json'
  _run_script('experiments/benchmark.py', '--config=configs/mixture.py', '--mode=input',
              '--steps=5', f'--json={out}')
  results = json.loads(out.read_text())
  assert results['batches_per_s'] > 0 and results['examples_per_s'] > 0


def _two_classes(n, rng, flip=False):
  """Points of two classes split by the sign of their first feature (labels flipped
  if `flip`: a split on which the rule learnt from the others is always wrong)."""
  x = rng.normal(size=(n, 3))
  x[:, 0] += np.where(np.arange(n) % 2, 3.0, -3.0)
  labels = (np.arange(n) % 2).astype(np.int64)
  return x.astype(np.float32), 1 - labels if flip else labels


class _NearestOrFarthest:
  """An SVM stand-in whose C picks its rule: C=1 predicts the nearest training point's
  label, C=2 the other label; so each C wins on one of two splits."""

  def __init__(self, C, **kwargs):
    del kwargs
    self.c = C

  def fit(self, x, y):
    self.x, self.y = x, y
    return self

  def predict(self, x):
    nearest = self.y[np.argmin(((x[:, None] - self.x[None]) ** 2).sum(-1), axis=1)]
    return nearest if self.c == 1 else 1 - nearest


def test_svm_protocol_chooses_c_on_validation_never_on_test(monkeypatch):
  """On a test split with flipped labels C=2 would win (~0 % error); validation picks
  C=1, and the protocol reports that choice's test error (~100 %)."""
  monkeypatch.setattr(svm_protocol.svm, 'LinearSVC', _NearestOrFarthest)
  rng = np.random.default_rng(0)
  (pool, pool_y), (valid, valid_y) = _two_classes(200, rng), _two_classes(200, rng)
  test, test_y = _two_classes(200, rng, flip=True)
  errors = svm_protocol.svm_test_errors(
      {'pool': pool, 'valid': valid, 'test': test},
      {'pool': pool_y, 'valid': valid_y, 'test': test_y},
      num_labels=20, num_svms=3, c_values=[1, 2], seed=0)
  assert np.all(errors > 0.9)


def test_linear_probe_chooses_weight_decay_on_training_data_never_on_test():
  rng = np.random.default_rng(0)
  train_x, train_y = _two_classes(400, rng)
  test_x, test_y = _two_classes(200, rng, flip=True)
  # A huge weight decay zeroes W (chance on the flipped test split, which would pick it);
  # the validation tail of the training data picks none.
  result = linear_probe.probe((train_x, train_y), (test_x, test_y), num_classes=2,
                              weight_decays=[0.0, 1e4], validation_fraction=0.25, epochs=3,
                              seed=0)
  assert result['weight_decay'] == 0.0 and result['top1'] < 0.1


def test_paired_interval_by_hand():
  # Differences 1, 2, 3: mean 2, sample std 1, t(0.975, 2 dof) = 4.302653.
  mean, low, high = reporting.paired_interval([3, 5, 7], [2, 3, 4])
  assert mean == 2.0
  np.testing.assert_allclose([low, high], [2 - 4.302653 / np.sqrt(3), 2 + 4.302653 / np.sqrt(3)],
                             rtol=1e-6)
  assert np.isnan(reporting.paired_interval([1.0], [0.0])[1])


def test_paired_differences_pair_by_seed_and_table_the_intervals():
  record = lambda **values: run_records.record(values, 'abc', [], 'cpu')
  runs = {'base': {0: record(a=2.0, b=1.0), 1: record(a=3.0, b=1.0), 2: record(a=4.0),
                   5: record(a=0.0, b=0.0)},
          # Differences in a: 1.0, 1.1, 0.9 on seeds 0-2 (mean 1, sample std 0.1, 95 % half
          # width 4.302653 * 0.1 / sqrt(3) = 0.248); seed 7 has no partner, seed 5 diverged.
          'row': {0: record(a=3.0, b=2.0), 1: record(a=4.1, b=2.0), 2: record(a=4.9),
                  5: run_records.record({}, 'abc', [], 'cpu', diverged_at_step=9),
                  7: record(a=100.0)},
          'one': {1: record(a=3.5)},
          'apart': {9: record(a=1.0)}}
  differences = run_records.paired_differences(runs, 'base', ['a', 'b'])
  assert set(differences) == {'row', 'one'}  # no shared seed: left out
  assert differences['row']['seeds'] == [0, 1, 2]
  np.testing.assert_allclose(differences['row']['a'], [1, 1 - 0.248414, 1 + 0.248414],
                             rtol=1e-5)
  assert 'b' not in differences['row']  # seed 2 lacks it
  assert differences['one'] == {'seeds': [1], 'a': [0.5, None, None]}
  table = run_records.paired_table(differences, 'row minus base',
                                   [('a', 'A', 10, '{:+.1f}'), ('b', 'B', 1, '{:+.2f}')])
  assert table.splitlines()[2] == '| row | 3 | +10.0 [+7.5, +12.5]* | - |'
  assert table.splitlines()[3] == '| one | 1 | +5.0 | - |'


@pytest.mark.timeout(600)
def test_regulariser_study_reads_validation_only_and_tables_curves(tmp_path):
  output = tmp_path / 'out' / 'study.md'
  # log_every_steps=1: each run compiles one train step (the one with the diagnostic).
  shrink = ['num_train_steps=4', 'checkpoint_every_steps=4', 'model.encoder_sigma=sigmoid',
            'log_every_steps=1']
  _run_script('experiments/regulariser_study.py', '--config=configs/mixture_tiny.py',
              '--settings=baseline,r1_1,alice_cycle_10', '--seeds=0',
              f'--workdir={tmp_path / "runs"}', f'--output={output}',
              *[f'--set={s}' for s in shrink])
  report = output.read_text()
  for setting in ('baseline', 'r1_1', 'alice_cycle_10'):
    workdir = str(tmp_path / 'runs' / setting / 'seed_0')
    config = json.loads((tmp_path / 'runs' / setting / 'seed_0' / 'config.json').read_text())
    method = 'alice' if setting == 'alice_cycle_10' else 'ali'
    assert (config['method'], config['model']['encoder']) == (method, 'gaussian')
    assert config['regularisers']['r1_gamma'] == (1.0 if setting == 'r1_1' else 0.0)
    assert config['method_options']['cycle_weight'] == (10.0 if method == 'alice' else 1.0)
    # Evaluated every tenth of the run (here every step), on the validation split only.
    history = workdir_lib.load_eval_history(workdir)
    assert [(e['split'], e['step']) for e in history] == [('validation', s) for s in range(1, 5)]
    assert re.search(rf'^\| {setting} \| .* \| 1 \| 0\.\d+ \+- 0\.000 \| 0\.\d+ \+- 0\.000 \|',
                     report, re.M), setting
  runs = json.loads((tmp_path / 'out' / 'study.json').read_text())['runs']
  weakest = runs['r1_1']['0']['values']['weakest_pairing_contrast']
  curve = [value for _, value in runs['r1_1']['0']['curves']['pairing_accuracy']]
  assert len(curve) == 4 and weakest == min(abs(a - 0.5) for a in curve)
  # The mixture has no class metrics: the rule has nothing to rank by, and says so.
  assert 'Chosen on the validation split: **none**' in report
  assert (tmp_path / 'out' / 'study.png').stat().st_size > 5_000


def test_regulariser_study_chooses_among_the_settings_that_keep_the_pairing(tmp_path):
  """From recorded runs alone (--notrain): the best reconstruction agreement among the
  settings whose pairing contrast |accuracy - 0.5| stays >= 0.05."""
  run = lambda weakest, agreement: {'0': dict(run_records.record(
      dict(weakest_pairing_contrast=weakest, reconstruction_class_agreement=agreement),
      'c', ['c'], 'm'), curves={'pairing_accuracy': [[1, 0.5 - weakest], [2, 0.2]]})}
  study = {'config': 'configs/digits.py', 'set': ['num_train_steps=4'], 'num_train_steps': 4}

  def report_of(runs, seeds):
    """The study's report, tabled from these recorded runs alone."""
    (tmp_path / 'study.json').write_text(json.dumps({'settings': study, 'runs': runs}))
    _run_script('experiments/regulariser_study.py', '--config=configs/digits.py',
                '--settings=baseline,spectral_norm,r1_10', f'--seeds={seeds}', '--notrain',
                '--set=num_train_steps=4', f'--workdir={tmp_path / "runs"}',
                f'--output={tmp_path / "study.md"}')
    return (tmp_path / 'study.md').read_text()

  report = report_of({'baseline': run(0.0, 0.9), 'spectral_norm': run(0.10, 0.4),
                      'r1_10': run(0.20, 0.6)}, '0')
  assert ('Chosen on the validation split: **r1_10** (2 of 3 settings kept |pairing '
          'accuracy - 0.5| >= 0.05') in report  # the baseline's D stops checking the pairing
  assert 'not yet a choice' not in report  # one run each
  # Unequal runs: one run of r1_10 (0.8) above spectral_norm's mean of three (0.7) is
  # named, but not as a choice.
  spectral_norm = {seed: run(0.10, agreement)['0'] for seed, agreement
                   in (('0', 0.4), ('1', 0.85), ('2', 0.85))}
  report = report_of({'baseline': run(0.0, 0.9), 'spectral_norm': spectral_norm,
                      'r1_10': run(0.20, 0.8)}, '0,1,2')
  assert ('of them `r1_10` has the highest mean reconstruction class agreement, on 1 run(s) '
          'against 3 of `spectral_norm`: not yet a choice (train the seeds of `r1_10` that '
          '`spectral_norm` has))') in report


def test_learning_curves_table_every_evaluation_and_the_final_split_apart(tmp_path):
  """From a run's eval_history.json alone: a row per evaluation, the final (test) one
  marked as such; a run still training says how far it is."""
  config = fashion_mnist.get_config()
  config.num_train_steps = 30
  workdir = str(tmp_path / 'long')
  workdir_lib.save_config(workdir, config)
  for step, split, accuracy in ((10, 'validation', 0.41), (20, 'validation', 0.62),
                                (30, 'test', 0.58)):
    workdir_lib.add_to_eval_history(workdir, dict(
        step=step, encoder_1nn_accuracy=0.8, pairing_accuracy=accuracy,
        pixel_1nn_accuracy=0.85), split)
  output = tmp_path / 'out' / 'curves.md'
  _run_script('experiments/learning_curves.py', f'--runs=ali={workdir}', f'--output={output}')
  report = output.read_text()
  rows = re.findall(r'^\| ali \| ([\w ]+) \| (\w+) \| (\d+) \| 80\.00% \| - \| - \| (0\.\d+) '
                    r'\| - \| 85\.00% \|$', report, re.M)
  assert rows == [('during training', 'validation', '10', '0.410'),
                  ('during training', 'validation', '20', '0.620'),
                  ('final', 'test', '30', '0.580')]
  assert 'ali: evaluated up to step 30 of 30 (100%)' in report
  assert (tmp_path / 'out' / 'curves.png').stat().st_size > 5_000
  assert records.load(str(tmp_path / 'out' / 'curves.record.json'))['numbers']['runs']['ali']
  # A folder without a run is named with the fix, not a traceback from deep inside.
  error = subprocess.run([sys.executable, 'experiments/learning_curves.py',
                          f'--runs={tmp_path / "nothing"}'], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
  assert error.returncode != 0 and 'holds no run' in error.stderr
