"""Learning rate schedules and weight decay (config.optimizer)."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ali_jax.config import validation
from ali_jax.models import common
from ali_jax.settings import run_settings
from ali_jax.training import optimizers
from tests.conftest import NUM_DEVICES


def _optimizer_settings(**changes):
  settings = dict(learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant',
                  discriminator_learning_rate_scale=1.0, decay_start_fraction=0.5,
                  final_learning_rate_scale=0.01, weight_decay=0.0)
  return run_settings.OptimizerSettings(**{**settings, **changes})


def test_exponential_holds_then_decays_to_the_final_scale():
  schedule = optimizers.learning_rate_schedule(_optimizer_settings(schedule='exponential'), 100)
  rates = np.array([schedule(step) for step in range(101)])
  np.testing.assert_allclose(rates[:51], 2e-4, rtol=1e-6)  # 50 steps at the peak
  np.testing.assert_allclose(rates[75], 2e-4 * 0.01 ** 0.5, rtol=1e-5)  # halfway down
  np.testing.assert_allclose(rates[100], 2e-6, rtol=1e-5)
  assert np.all(np.diff(rates[50:]) < 0)
  # The D's scale multiplies the whole schedule.
  scaled = optimizers.learning_rate_schedule(_optimizer_settings(schedule='exponential'), 100,
                                             scale=2.0)
  np.testing.assert_allclose(scaled(100), 4e-6, rtol=1e-5)


PARAMS = {'Dense_0': {'kernel': jnp.full((2, 3), 0.5), 'bias': jnp.full((3,), 0.5)},
          common.OUTPUT_BIAS: jnp.full((2, 2, 1), 0.5)}


def _one_update(weight_decay):
  """The encoder optimizer's first update with a zero loss gradient, and its state."""
  optimizer = optimizers.make_optimizers(_optimizer_settings(weight_decay=weight_decay),
                                         10).encoder
  state = optimizer.init(PARAMS)
  updates, _ = optimizer.update(jax.tree.map(jnp.zeros_like, PARAMS), state, PARAMS)
  return updates, state


def test_weight_decay_pulls_only_weights_towards_zero():
  updates, _ = _one_update(2.5e-5)
  # Adam's first step moves each decayed weight by about the learning rate,
  # against its sign; biases and the output bias stay.
  np.testing.assert_allclose(updates['Dense_0']['kernel'], -2e-4, rtol=1e-3)
  np.testing.assert_array_equal(updates['Dense_0']['bias'], 0.0)
  np.testing.assert_array_equal(updates[common.OUTPUT_BIAS], 0.0)
  updates, state = _one_update(0.0)
  for leaf in jax.tree.leaves(updates):
    np.testing.assert_array_equal(leaf, 0.0)
  # Without decay the optimizer state is Adam's alone, as earlier checkpoints hold it.
  assert jax.tree.structure(state) == jax.tree.structure(optax.adam(1.0).init(PARAMS))


@pytest.mark.parametrize('field, value, message', [
    ('schedule', 'linear', 'config.optimizer.schedule'),
    ('decay_start_fraction', 1.0, 'config.optimizer.decay_start_fraction'),
    ('final_learning_rate_scale', 0.0, 'config.optimizer.final_learning_rate_scale'),
    ('weight_decay', -1e-5, 'config.optimizer.weight_decay'),
])
def test_bad_optimizer_values_are_refused(tiny_config, field, value, message):
  tiny_config.optimizer[field] = value
  with pytest.raises(ValueError, match=message):
    validation.check_config(tiny_config, device_count=NUM_DEVICES)
