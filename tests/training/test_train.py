"""train_and_evaluate end to end: outputs, resume after SIGKILL, and ali_jax.load."""
import glob
import json
import os
import re
import signal

import jax
import numpy as np
import pytest

import ali_jax
from ali_jax import data
from ali_jax import inference
from ali_jax.evaluation import evaluator
from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import datasets
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import trainer
from configs import mixture
from configs.mixture_tiny import get_config as mixture_tiny_config
from tests import helpers



def test_the_pairing_diagnostic_runs_once_per_logging_window(tmp_path, tiny_config, caplog):
  """The step with the diagnostic (one more D call) on the first step of each logging
  window, the step without it on the others: every progress line has the diagnostic, and
  the step without it compiles once."""
  with caplog.at_level('INFO'):
    trainer.train_and_evaluate(tiny_config, str(tmp_path))
  progress = [line for line in caplog.text.splitlines() if re.search(r'step \d+/12 \|', line)]
  assert len(progress) == 3 and all('pairing_accuracy' in line for line in progress)
  assert caplog.text.count('without the pairing diagnostic') == 1


def test_train_writes_metrics_images_summaries_and_checkpoints(tmp_path, tiny_config):
  metrics = trainer.train_and_evaluate(tiny_config, str(tmp_path))
  with open(tmp_path / 'eval.json') as f:
    written = json.load(f)
  assert written == metrics and written['step'] == 12
  for name in ('modes_covered', 'modes_covered_high_quality', 'high_quality_fraction',
               'reconstruction_same_mode_fraction', 'reconstruction_mse',
               'latent_frechet_distance', 'mode_kl_to_uniform'):
    assert np.isfinite(written[name]), name
  assert 1 <= written['modes_covered'] <= 25
  for image in ('samples.png', 'reconstructions.png', 'latents.png'):
    assert (tmp_path / 'images' / image).stat().st_size > 1000
  assert glob.glob(str(tmp_path / 'events.out.tfevents.*'))
  # max_to_keep=3 of the checkpoints at 4, 8, 12.
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['12', '4', '8']
  # record.json: what made the run, one session per invocation (a finished run only
  # evaluates again), and the last evaluation's numbers.
  trainer.train_and_evaluate(tiny_config, str(tmp_path), command='python main.py ...')
  with open(tmp_path / 'record.json') as f:
    record = json.load(f)
  assert record['numbers'] == written and record['config']['num_train_steps'] == 12
  assert record['command'] == 'python main.py ...'
  assert [s['steps'] for s in record['sessions']] == [[0, 12], [12, 12]]
  assert {'commit', 'dirty', 'machine', 'packages', 'started', 'wall_s'} <= set(
      record['sessions'][0])
  assert record['sessions'][0]['packages']['jax'] == jax.__version__


@pytest.mark.parametrize('final_split', ['test', 'validation'])
def test_only_the_final_evaluation_may_read_the_test_split(tmp_path, tiny_config,
                                                           monkeypatch, final_split):
  """Evaluations during training (step 8 of 12 here) read the validation split; the
  last reads data.final_split: the test split once, or never in a sweep's run."""
  tiny_config.data.final_split = final_split
  reads, load = [], data.load_dataset

  def recording(config):
    dataset = load(config)
    heldout = dataset.heldout
    dataset.heldout = lambda split: reads.append(split) or heldout(split)
    return dataset

  monkeypatch.setattr(data, 'load_dataset', recording)
  metrics = trainer.train_and_evaluate(tiny_config, str(tmp_path))
  assert reads == ['validation', final_split]
  assert json.loads((tmp_path / 'eval_validation.json').read_text())['step'] == 8
  assert json.loads((tmp_path / 'eval.json').read_text()) == metrics
  # Every evaluation in the history, by step; evaluating the finished run again replaces
  # its final entry rather than adding one.
  history = workdir_lib.load_eval_history(str(tmp_path))
  assert [(e['split'], e['step']) for e in history] == [('validation', 8), (final_split, 12)]
  assert history[-1] == {'split': final_split, **metrics}
  trainer.train_and_evaluate(tiny_config, str(tmp_path))
  assert len(workdir_lib.load_eval_history(str(tmp_path))) == 2


def test_load_round_trips_the_trained_model(tmp_path, tiny_config):
  tiny_config.model.encoder = 'gaussian'
  metrics = trainer.train_and_evaluate(tiny_config, str(tmp_path))
  model = ali_jax.load(str(tmp_path))
  assert model.step == 12
  # The loaded model reproduces the run's own evaluation exactly.
  reloaded, _ = evaluator.evaluate_mixture(
      model, data.load_dataset(tiny_config).heldout(datasets.TEST),
      num_samples=tiny_config.data.num_eval_samples, seed=tiny_config.seed)
  assert reloaded | {'step': 12} == metrics
  x = data.load_dataset(tiny_config).heldout('test').images[:37]
  z = model.encode(x, seed=3)
  assert z.shape == (37, 2) and z.dtype == np.float32
  np.testing.assert_array_equal(model.reconstruct(x, seed=3), model.decode(z))
  assert not np.array_equal(model.encode(x, seed=4), z)  # a stochastic encoder
  assert model.decode(z).shape == (37, 2)
  np.testing.assert_array_equal(model.sample(2000, seed=1), model.sample(2000, seed=1))
  assert model.sample(5, seed=1).shape == (5, 2)


def _untrained_model(config):
  run = run_setup.RunSetup(config)
  return inference.TrainedModel(run, state_lib.create_train_state(run))


def test_features_refuse_more_hidden_layers_than_the_encoder_has(tiny_config):
  model = _untrained_model(tiny_config)  # the tiny mixture encoder: 2 hidden layers
  x = np.zeros((3, 2), np.float32)
  hidden = len(tiny_config.model.encoder_hidden)
  assert model.features(x, hidden_layers=hidden).shape == (
      3, tiny_config.model.latent_dim + sum(tiny_config.model.encoder_hidden))
  with pytest.raises(ValueError, match=f'this encoder has {hidden} hidden layers'):
    model.features(x, hidden_layers=hidden + 1)


def test_models_of_one_run_share_compiled_functions(tiny_config):
  """Each evaluation makes a TrainedModel of the new state: it compiles nothing new."""
  run = run_setup.RunSetup(tiny_config)
  state = state_lib.create_train_state(run)
  x = np.zeros((5, 2), np.float32)
  first = inference.TrainedModel(run, state).encode(x)
  moved = state.replace(encoder=state.encoder.replace(params=jax.tree.map(
      lambda a: a + 0.1, state.encoder.params)))
  second = inference.TrainedModel(run, moved).encode(x)
  assert not np.array_equal(first, second)  # the new parameters were used ...
  assert run.jitted_encoder()._cache_size() == 1  # ... by the same compiled function


def test_param_counts_of_the_papers_mixture_networks():
  config = mixture.get_config()  # docs/papers.md section 4
  counts = _untrained_model(config).param_counts()
  # Encoder 4 -> 400 -> 400 -> 2: weights (no bias before BN), BN scale and shift.
  encoder = 4 * 400 + 2 * 400 + 400 * 400 + 2 * 400 + 400 * 2 + 2
  # Decoder 2 -> 400 x4 -> 2.
  generator = 2 * 400 + 2 * 400 + 3 * (400 * 400 + 2 * 400) + 400 * 2 + 2
  # D: 4 -> maxout(200 x 5) x3 -> 1.
  discriminator = (4 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 200 + 1
  assert counts == {'encoder': encoder, 'generator': generator,
                    'discriminator': discriminator}
  config.model.encoder = 'deterministic'
  counts = _untrained_model(config).param_counts()
  assert counts['encoder'] == encoder - 2 * 400  # no noise input


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path, tiny_config):
  final_step, kill_after = 120, 40
  interrupted = tmp_path / 'interrupted'
  # The killed run is given more steps than the others so that it is still
  # running when killed; a constant learning rate keeps its updates the same.
  tiny_config.optimizer.schedule = 'constant'
  process = helpers.launch_main(
      interrupted, tmp_path / 'run.log', '--config.num_train_steps=100000',
      '--config.optimizer.schedule=constant',
      '--config.checkpoint_every_steps=20', '--config.eval_every_steps=100000',
      '--config.log_every_steps=20')
  try:
    reached = helpers.wait_until(helpers.has_checkpoint_at_least(str(interrupted), kill_after),
                                 process, timeout=120)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  assert process.returncode == -signal.SIGKILL, 'the run ended before it was killed'
  # Without a checkpoint from before the kill this would test a fresh run.
  assert reached, f'no checkpoint at step >= {kill_after} within 120 s'
  saved = max(int(d) for d in os.listdir(interrupted / 'checkpoints') if d.isdigit())
  assert kill_after <= saved < final_step

  tiny_config.num_train_steps = final_step
  tiny_config.checkpoint_every_steps = 20
  tiny_config.eval_every_steps = 100000
  trainer.train_and_evaluate(tiny_config, str(interrupted))
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'uninterrupted'))
  resumed = helpers.restored_state(str(interrupted), tiny_config)
  reference = helpers.restored_state(str(tmp_path / 'uninterrupted'), tiny_config)
  assert int(resumed.step) == final_step
  jax.tree.map(np.testing.assert_array_equal, resumed, reference)


def test_url_workdir_of_another_scheme_is_refused(tiny_config):
  with pytest.raises(ValueError, match='of URLs only gs:// are supported'):
    trainer.train_and_evaluate(tiny_config, 's3://bucket/run')


def test_bad_batch_size_fails_before_compiling(tmp_path, tiny_config):
  tiny_config.batch_size = 18  # 4 devices
  with pytest.raises(ValueError, match='batch_size=18 must be divisible'):
    trainer.train_and_evaluate(tiny_config, str(tmp_path))
  assert not (tmp_path / 'checkpoints').exists()


class _NaNAfter:
  """The mixture, with NaN batches from `step` on: a fault injected into training."""

  def __init__(self, dataset, step):
    self._dataset, self._step = dataset, step
    self.heldout = dataset.heldout

  def batches(self, start_step, **kwargs):
    for step, batch in enumerate(self._dataset.batches(start_step, **kwargs), start_step):
      yield {'x': batch['x'] * np.nan} if step >= self._step else batch


def _inject_nan_from(monkeypatch, step):
  load = data.load_dataset
  monkeypatch.setattr(data, 'load_dataset', lambda config: _NaNAfter(load(config), step))


def test_divergence_stops_the_run_and_keeps_good_checkpoints(tmp_path, tiny_config,
                                                             monkeypatch):
  tiny_config.num_train_steps = 8
  trainer.train_and_evaluate(tiny_config, str(tmp_path))
  good = helpers.restored_state(str(tmp_path), tiny_config)
  eval_before = (tmp_path / 'eval.json').read_text()
  tiny_config.num_train_steps = 16
  tiny_config.log_every_steps = 100  # the checkpoint at step 12 must catch it alone
  _inject_nan_from(monkeypatch, 9)  # the update of step 10 is the first non-finite one
  # NaN data reaches the encoder and D; the generator's gradient flows only
  # through D(G(z), z), which stays finite (this D has no batch norm).
  with pytest.raises(FloatingPointError,
                     match='diverged at step 10: non-finite discriminator_loss, '
                           'generator_loss; non-finite gradients in the encoder, '
                           'discriminator\\. The checkpoints'):
    trainer.train_and_evaluate(tiny_config, str(tmp_path))
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['4', '8']
  jax.tree.map(np.testing.assert_array_equal,
               helpers.restored_state(str(tmp_path), tiny_config), good)
  assert (tmp_path / 'eval.json').read_text() == eval_before


def test_skip_mode_skips_nonfinite_updates_and_counts_them(tmp_path, tiny_config,
                                                          monkeypatch):
  tiny_config.nonfinite = 'skip'
  tiny_config.num_train_steps = 8
  trainer.train_and_evaluate(tiny_config, str(tmp_path))
  before = helpers.restored_state(str(tmp_path), tiny_config)
  tiny_config.num_train_steps = 12
  _inject_nan_from(monkeypatch, 8)
  with pytest.raises(FloatingPointError, match=r'Every update of steps 9\.\.12 was skipped'):
    trainer.train_and_evaluate(tiny_config, str(tmp_path))
  # Nothing changed, nothing was saved past step 8.
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['4', '8']
  jax.tree.map(np.testing.assert_array_equal,
               helpers.restored_state(str(tmp_path), tiny_config), before)


def test_skip_mode_step_leaves_networks_unchanged():
  config = mixture_tiny_config()
  config.nonfinite = 'skip'
  run = run_setup.RunSetup(config, axis_name=None)
  train_step = jax.jit(run.train_step(run.phases[0]))
  state = state_lib.create_train_state(run)
  nan_batch = {'x': np.full((16, 2), np.nan, np.float32)}
  new_state, metrics = train_step(state, nan_batch)
  assert float(metrics['nonfinite_update']) == 1.0 and int(new_state.step) == 1
  jax.tree.map(np.testing.assert_array_equal, new_state.replace(step=state.step), state)
  finite_state, metrics = train_step(state, {'x': np.zeros((16, 2), np.float32)})
  assert float(metrics['nonfinite_update']) == 0.0
  assert not np.array_equal(jax.tree.leaves(finite_state.generator.params)[0],
                            jax.tree.leaves(state.generator.params)[0])
