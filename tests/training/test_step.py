"""The train step: one update of all three networks, and pmap == one device."""
import functools

import jax
import numpy as np
import pytest

import optax

from ali_jax import data
from ali_jax.hosts import devices
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib
from configs import digits
from tests import helpers
from tests.conftest import NUM_DEVICES

AXIS = devices.AXIS_NAME


def _step_fn(config, axis_name):
  run = run_setup.RunSetup(config, axis_name=axis_name)
  return run.train_step(run.phases[0])


def _initial_state(config):
  return state_lib.create_train_state(run_setup.RunSetup(config))


def _global_batch(config, step=0):
  return data.load_dataset(config).train_batch(step, global_batch_size=config.batch_size,
                                       seed=config.seed)


def _pmapped(config, num_devices, state_out_axis=None):
  return jax.pmap(_step_fn(config, AXIS), axis_name=AXIS, in_axes=(None, 0),
                  out_axes=(state_out_axis, None),
                  devices=jax.local_devices()[:num_devices])


def test_one_step_updates_every_network_and_is_finite(tiny_config):
  state = _initial_state(tiny_config)
  new_state, metrics = jax.jit(_step_fn(tiny_config, None))(state, _global_batch(tiny_config))
  assert int(new_state.step) == 1
  for name in ('encoder', 'generator', 'discriminator'):
    before = jax.tree.leaves(getattr(state, name).params)
    after = jax.tree.leaves(getattr(new_state, name).params)
    assert all(a.shape == b.shape for a, b in zip(before, after))
    assert any(not np.array_equal(a, b) for a, b in zip(before, after)), name
  for name, value in metrics.items():
    assert np.isfinite(value), name
  for name in ('encoder', 'generator', 'discriminator'):
    assert float(metrics[f'grad_norm_{name}']) > 0
  assert 0 < float(metrics['real_confidence']) < 1
  # The encoder and generator batch statistics moved towards the batch's.
  assert not np.array_equal(jax.tree.leaves(state.generator.batch_stats)[0],
                            jax.tree.leaves(new_state.generator.batch_stats)[0])


def test_each_network_descends_the_gradient_of_its_own_loss_only(tiny_config):
  """D's update is Adam on dL_D/dD alone, E's and G's on dL_G/dE and dL_G/dG
  alone: no network takes the gradient of the other loss, or of their sum."""
  run = run_setup.RunSetup(tiny_config, axis_name=None)
  state = state_lib.create_train_state(run)
  batch = _global_batch(tiny_config)
  new_state, metrics = jax.jit(run.train_step(run.phases[0]))(state, batch)

  # The step's randomness, drawn as step.py draws it on one device.
  prior_key, encoder_key, dropout_key = jax.random.split(
      jax.random.fold_in(state.rng, state.step), 3)
  shape = (tiny_config.batch_size, tiny_config.model.latent_dim)
  z, noise = jax.random.normal(prior_key, shape), jax.random.normal(encoder_key, shape)

  def losses(params):
    calls = step_lib.NetworkCalls(run.networks, state, params,
                                  dropout_key=jax.random.fold_in(dropout_key, 0),
                                  loss_form=tiny_config.loss_form)
    return run.phases[0].objective.losses(calls, batch['x'], None, z, noise)

  params = {name: getattr(state, name).params for name in choices.NETWORK_NAMES}
  of_d_loss = jax.grad(lambda p: losses(p)['discriminator_loss'])(params)
  of_g_loss = jax.grad(lambda p: losses(p)['generator_loss'])(params)
  own = dict(discriminator=of_d_loss, encoder=of_g_loss, generator=of_g_loss)
  other = dict(discriminator=of_g_loss, encoder=of_d_loss, generator=of_d_loss)
  optimizers = run.optimizers(run.phases[0])

  def adam_step(name, grads):
    updates, _ = getattr(optimizers, name).update(
        grads[name], getattr(state, name).opt_state, params[name])
    return optax.apply_updates(params[name], updates)

  for name in choices.NETWORK_NAMES:
    np.testing.assert_allclose(float(metrics[f'grad_norm_{name}']),
                               float(optax.tree.norm(own[name][name])), rtol=1e-5)
    jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-7),
                 getattr(new_state, name).params, adam_step(name, own[name]))
    # At initialisation dL_D = -dL_G nearly everywhere: the other loss would
    # move the parameters the other way.
    assert not all(np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(
        jax.tree.leaves(getattr(new_state, name).params),
        jax.tree.leaves(adam_step(name, other[name]))))


@pytest.mark.parametrize('encoder', ['noise', 'gaussian', 'deterministic'])
def test_pmap_over_devices_equals_one_device(tiny_config, encoder):
  tiny_config.model.encoder = encoder
  tiny_config.model.dropout_rate = 0.0  # dropout masks are drawn per device
  batches = [_global_batch(tiny_config, s) for s in range(3)]
  state = _initial_state(tiny_config)
  jitted, _ = helpers.run_steps(jax.jit(_step_fn(tiny_config, None)), state, batches)
  one, _ = helpers.run_steps(_pmapped(tiny_config, 1), state, batches, shard=1)
  many, metrics = helpers.run_steps(_pmapped(tiny_config, NUM_DEVICES), state, batches,
                       shard=NUM_DEVICES)
  assert int(many.step) == 3
  check = functools.partial(np.testing.assert_allclose, rtol=2e-5, atol=2e-6)
  jax.tree.map(check, jax.device_get(one), jax.device_get(jitted))
  jax.tree.map(check, jax.device_get(many), jax.device_get(one))
  assert np.isfinite(float(metrics['discriminator_loss']))


def test_batch_statistics_are_identical_on_every_device(tiny_config):
  state = _initial_state(tiny_config)
  step = _pmapped(tiny_config, NUM_DEVICES, state_out_axis=0)
  per_device, _ = helpers.run_steps(step, state, [_global_batch(tiny_config)], shard=NUM_DEVICES)
  assert jax.tree.leaves(per_device.generator.batch_stats)
  for tree in (per_device.encoder.batch_stats, per_device.generator.batch_stats,
               per_device.encoder.params, per_device.discriminator.params):
    for leaf in jax.tree.leaves(jax.device_get(tree)):
      assert leaf.shape[0] == NUM_DEVICES
      for device in range(1, NUM_DEVICES):
        np.testing.assert_array_equal(leaf[device], leaf[0])


@pytest.mark.parametrize('config_name', ['mixture_tiny', 'digits'])
def test_bfloat16_compute_keeps_float32_state_and_close_losses(tiny_config, config_name):
  """model.dtype='bfloat16': layers compute in bfloat16, the state and the
  losses stay float32 and within bfloat16 rounding of the float32 step."""
  config = tiny_config if config_name == 'mixture_tiny' else digits.get_config()
  config.batch_size = 16
  batch = next(data.load_dataset(config).batches(0, global_batch_size=config.batch_size))
  results = {}
  for dtype in ('float32', 'bfloat16'):
    config.model.dtype = dtype
    step = jax.jit(_step_fn(config, None))
    state = _initial_state(config)
    lowered_text = step.lower(state, batch).as_text()
    results[dtype] = (lowered_text, *step(state, batch))
  f32_text, f32_state, f32_metrics = results['float32']
  bf16_text, bf16_state, bf16_metrics = results['bfloat16']
  assert 'bf16' not in f32_text and 'bf16' in bf16_text
  for leaf_f32, leaf_bf16 in zip(jax.tree.leaves(f32_state), jax.tree.leaves(bf16_state)):
    assert leaf_bf16.dtype == leaf_f32.dtype
  for name in ('discriminator_loss', 'generator_loss'):
    assert bf16_metrics[name].dtype == np.float32
    np.testing.assert_allclose(bf16_metrics[name], f32_metrics[name], rtol=3e-2)
