"""config.model.remat: what the backward pass keeps; the gradients never change."""
import math
import re

import jax
import numpy as np
import pytest

from ali_jax import data
from ali_jax.config import validation
from ali_jax.models import remat
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib
from configs import digits

REMATS = ('none', 'elementwise')


def _config(name, tiny_config):
  config = tiny_config if name == 'mixture_tiny' else digits.get_config()
  config.batch_size = 16
  if name == 'digits':
    assert config.model.dropout_rate > 0  # the masks are part of what is tested
  return config


def _jitted_step(config, remat_choice):
  config.model.remat = remat_choice
  run = run_setup.RunSetup(config, axis_name=None)
  return jax.jit(run.train_step(run.phases[0])), state_lib.create_train_state(run)


@pytest.mark.parametrize('name', ['mixture_tiny', 'digits'])
def test_every_choice_computes_the_same_step(tiny_config, name):
  config = _config(name, tiny_config)
  batch = next(data.load_dataset(config).batches(0, global_batch_size=config.batch_size))
  results = {}
  for choice in REMATS:
    step, state = _jitted_step(config, choice)
    results[choice] = step(state, batch)
  reference_state, reference_metrics = results['none']
  for choice in REMATS[1:]:
    new_state, metrics = results[choice]
    for key, value in reference_metrics.items():
      np.testing.assert_allclose(metrics[key], value, rtol=1e-5, err_msg=f'{choice}: {key}')
    # Adam's first moments after one step are (1 - b1) x the gradients.
    for network in ('encoder', 'generator', 'discriminator'):
      jax.tree.map(
          lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
          getattr(new_state, network).opt_state, getattr(reference_state, network).opt_state)


def _residual_bytes(capsys, config, choice):
  """{dtype: bytes} of what the discriminator's backward pass keeps, by jax's own account."""
  config.model.remat = choice
  run = run_setup.RunSetup(config, axis_name=None)
  state = state_lib.create_train_state(run)
  x = np.zeros((config.batch_size,) + run.data_shape, np.float32)
  z = np.zeros((config.batch_size, run.latent_dim), np.float32)

  def discriminator_output(params):
    calls = step_lib.NetworkCalls(run.networks, state, {'discriminator': params},
                                  dropout_key=jax.random.PRNGKey(0),
                                  loss_form=config.loss_form, remat=choice)
    return calls.discriminate(x, z).sum()

  capsys.readouterr()
  jax.ad_checkpoint.print_saved_residuals(discriminator_output, state.discriminator.params)
  kept = {}
  for dtype, dims in re.findall(r'^(\w+)\[([\d,]*)\]', capsys.readouterr().out, re.M):
    size = math.prod(int(d) for d in dims.split(',') if d)
    kept[dtype] = kept.get(dtype, 0) + size * (1 if dtype == 'bool' else 4)
  return kept


def test_elementwise_keeps_less_and_keeps_the_dropout_masks(tiny_config, capsys):
  config = _config('digits', tiny_config)
  kept = {choice: _residual_bytes(capsys, config, choice) for choice in REMATS}
  assert sum(kept['elementwise'].values()) < 0.8 * sum(kept['none'].values()), kept
  assert kept['elementwise'].get('bool', 0) > 0, kept  # the masks, not their random bits
  # and the whole step hashes no more counters than without remat.
  batch = next(data.load_dataset(config).batches(0, global_batch_size=config.batch_size))
  hashes = {}
  for choice in REMATS:
    step, state = _jitted_step(config, choice)
    hashes[choice] = step.lower(state, batch).as_text().count('threefry2x32')
  assert hashes['elementwise'] == hashes['none'] > 0, hashes


def test_an_unknown_choice_is_refused_by_the_config_check(tiny_config):
  tiny_config.model.remat = 'some'
  with pytest.raises(ValueError, match=r'config.model.remat'):
    validation.check_config(tiny_config, device_count=1)
  with pytest.raises(ValueError, match='remat must be one of'):
    remat.rematerialised(lambda x: x, 'some')
