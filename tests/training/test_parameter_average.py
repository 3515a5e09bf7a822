"""config.parameter_average: exponential moving averages of networks' parameters."""
import jax
import numpy as np
import pytest

from ali_jax import data
from ali_jax import inference
from ali_jax.config import validation
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import trainer
from tests import helpers

ALL = ('encoder', 'generator', 'discriminator')


def _averaging(config, decay=0.5, networks=ALL):
  config.parameter_average.decay = decay
  config.parameter_average.networks = networks
  return config


def _steps(config, count):
  run = run_setup.RunSetup(config, axis_name=None)
  step = jax.jit(run.train_step(run.phases[0]))
  states = [state_lib.create_train_state(run)]
  dataset = data.load_dataset(config)
  for s in range(count):
    batch = dataset.train_batch(s, global_batch_size=config.batch_size, seed=config.seed)
    states.append(step(states[-1], batch)[0])
  return run, states


def test_averages_follow_the_parameters_at_the_decay(tiny_config):
  run, (initial, first, second) = _steps(_averaging(tiny_config), 2)
  assert isinstance(initial, state_lib.TrainStateWithAverages)
  for name in ALL:
    expected = jax.tree.map(lambda p: p, getattr(initial, name).params)
    for state in (first, second):
      expected = jax.tree.map(lambda a, p: 0.5 * a + 0.5 * p, expected,
                              getattr(state, name).params)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8),
                   state.averages[name], expected)
    assert not np.array_equal(jax.tree.leaves(second.averages[name])[0],
                              jax.tree.leaves(getattr(second, name).params)[0])
  # Without a decay the state keeps the plain layout (earlier checkpoints restore).
  tiny_config.parameter_average.decay = 0.0
  assert type(state_lib.create_train_state(run_setup.RunSetup(tiny_config))) is (
      state_lib.TrainState)


def test_inference_runs_the_averaged_networks(tiny_config):
  run, states = _steps(_averaging(tiny_config, networks=('generator',)), 2)
  state = states[-1]
  z = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
  averaged = inference.TrainedModel(run, state).decode(z)
  as_params = state.replace(generator=state.generator.replace(
      params=state.averages['generator']))
  np.testing.assert_array_equal(averaged, inference.TrainedModel(run, as_params).decode(z))
  assert not np.allclose(averaged, inference.TrainedModel(
      run, state_lib.TrainState(**{f: getattr(state, f) for f in
                                   ('step', 'rng', *ALL)})).decode(z))


def test_resume_with_averages_equals_an_uninterrupted_run(tmp_path, tiny_config):
  _averaging(tiny_config, decay=0.9)
  tiny_config.optimizer.schedule = 'constant'
  tiny_config.update_from_flattened_dict(dict(checkpoint_every_steps=4,
                                              eval_every_steps=1000, log_every_steps=4))
  tiny_config.num_train_steps = 4
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'resumed'))
  tiny_config.num_train_steps = 8  # continue the same run from its step-4 checkpoint
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'resumed'))
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'straight'))
  resumed = helpers.restored_state(str(tmp_path / 'resumed'), tiny_config)
  straight = helpers.restored_state(str(tmp_path / 'straight'), tiny_config)
  assert int(resumed.step) == 8 and set(resumed.averages) == set(ALL)
  jax.tree.map(np.testing.assert_array_equal, resumed, straight)


@pytest.mark.parametrize('changes, message', [
    ({'parameter_average.networks': ('critic',)}, 'parameter_average.networks'),
    ({'parameter_average.decay': 1.0}, r'parameter_average.decay=1.0 is not allowed'),
])
def test_bad_average_settings_are_named(tiny_config, changes, message):
  tiny_config.update_from_flattened_dict(changes)
  with pytest.raises(ValueError, match=message):
    validation.check_config(tiny_config, device_count=1)
