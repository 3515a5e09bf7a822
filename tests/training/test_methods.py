"""The training methods: who is trained, what each minimises, and the phases."""
import re
import shutil

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax import data
from ali_jax import losses
from ali_jax.config import validation
from ali_jax.runs import summaries as summaries_lib
from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import choices
from ali_jax.training import methods
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import trainer
from tests import helpers
from tests.conftest import NUM_DEVICES

# method -> (networks it trains in its last phase, config changes it needs)
TRAINED = {
    'ali': ({'encoder', 'generator', 'discriminator'}, {}),
    'bigan': ({'encoder', 'generator', 'discriminator'}, {'model.encoder': 'deterministic'}),
    'gan': ({'generator', 'discriminator'}, {}),
    'latent_regressor': ({'encoder'}, {'method_options.inference_steps': 4}),
    'bigan_latent_regressor': ({'encoder', 'generator', 'discriminator'}, {}),
    'joint_latent_regressor': ({'encoder', 'generator', 'discriminator'}, {}),
    'post_hoc': ({'encoder', 'discriminator'}, {'method_options.inference_steps': 4}),
    'alice': ({'encoder', 'generator', 'discriminator'}, {}),
    'vae': ({'encoder', 'generator'}, {'model.encoder': 'gaussian'}),
    'autoencoder': ({'encoder', 'generator'}, {'model.encoder': 'deterministic'}),
}


def _config(tiny_config, method, **changes):
  tiny_config.method = method
  tiny_config.update_from_flattened_dict({**TRAINED[method][1], **changes})
  return tiny_config


def _one_step(config, phase_index):
  run = run_setup.RunSetup(config, axis_name=None)
  step = jax.jit(run.train_step(run.phases[phase_index]))
  state = state_lib.create_train_state(run)
  batch = data.load_dataset(config).train_batch(0, global_batch_size=config.batch_size,
                                        seed=config.seed)
  return state, *step(state, batch)


def _changed(before, after):
  return any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before),
                                                      jax.tree.leaves(after)))


def test_every_mixture_method_is_covered_here():
  # The labelled methods (images only): tests/training/test_semi_supervised.py.
  assert set(TRAINED) == set(methods.MIXTURE_METHODS)


@pytest.mark.parametrize('method', methods.MIXTURE_METHODS)
def test_each_method_trains_exactly_its_networks(tiny_config, method):
  config = _config(tiny_config, method)
  validation.check_config(config, device_count=NUM_DEVICES)
  before, after, metrics = _one_step(config, -1)  # the last phase
  trained = TRAINED[method][0]
  for name in choices.NETWORK_NAMES:
    # A frozen network keeps its parameters, batch statistics AND optimizer
    # state (Adam's moments would otherwise keep moving it).
    assert _changed(getattr(before, name).params, getattr(after, name).params) == (
        name in trained), name
    assert _changed(getattr(before, name).opt_state,
                    getattr(after, name).opt_state) == (name in trained), name
    assert (f'grad_norm_{name}' in metrics) == (name in trained)
  # The pairing diagnostic wherever D judges encoder pairs (post-hoc: in its last phase).
  paired = method in choices.PAIRED_METHODS
  assert ('pairing_accuracy' in metrics and 'pairing_logit_gap' in metrics) == paired
  assert all(np.isfinite(v) for v in jax.device_get(metrics).values())
  assert float(metrics['nonfinite_update']) == 0


def test_a_gaussian_encoders_posterior_is_logged(tiny_config):
  """ALI with a Gaussian encoder logs its posterior's std and the share of z's variance
  that the means explain (losses.posterior_metrics), from the step's own encoder call."""
  _, _, metrics = _one_step(_config(tiny_config, 'ali', **{'model.encoder': 'gaussian'}), 0)
  assert float(metrics['posterior_std']) > 0
  assert 0 < float(metrics['posterior_mean_share']) < 1
  assert 0 <= float(metrics['pairing_accuracy']) <= 1
  # The diagnostics, and only they, are left out of the step's non-finite check.
  assert {k for k in metrics if k.startswith(('pairing_', 'posterior_'))} == set(
      losses.DIAGNOSTICS)


def test_the_step_without_the_pairing_diagnostic_trains_the_same(tiny_config):
  """The step the trainer runs on most steps leaves out the diagnostic's D call and
  changes nothing that trains."""
  config = _config(tiny_config, 'ali', **{'model.encoder': 'gaussian'})
  run = run_setup.RunSetup(config, axis_name=None)
  batch = data.load_dataset(config).train_batch(0, global_batch_size=config.batch_size,
                                                seed=config.seed)
  states, metrics = [], []
  for pairing in (True, False):
    step = jax.jit(run.train_step(run.phases[0], pairing=pairing))
    state = state_lib.create_train_state(run)
    for _ in range(2):
      state, step_metrics = step(state, batch)
    states.append(state)
    metrics.append(step_metrics)
  assert 'pairing_accuracy' in metrics[0] and 'pairing_accuracy' not in metrics[1]
  assert set(metrics[0]) - set(metrics[1]) == {'pairing_accuracy', 'pairing_logit_gap'}
  for a, b in zip(jax.tree.leaves(states[0]), jax.tree.leaves(states[1])):
    np.testing.assert_array_equal(a, b)


def test_gan_discriminator_sees_x_only(tiny_config):
  """The joint D with zeros in its latent slot: the z weights never move."""
  before, after, _ = _one_step(_config(tiny_config, 'gan'), 0)
  first = lambda s: s.discriminator.params['Dense_0']['kernel']
  data_dim = 2
  np.testing.assert_array_equal(first(after)[data_dim:], first(before)[data_dim:])
  assert not np.array_equal(first(after)[:data_dim], first(before)[:data_dim])


def test_alice_without_cycle_weight_is_ali(tiny_config):
  ali = _one_step(_config(tiny_config.copy_and_resolve_references(), 'ali'),
                  0)[1]
  alice = _one_step(_config(tiny_config, 'alice', **{'method_options.cycle_weight': 0.0}),
                    0)[1]
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
               ali, alice)


def test_joint_latent_regressor_without_weight_trains_g_as_a_gan(tiny_config):
  gan = _one_step(_config(tiny_config.copy_and_resolve_references(), 'gan'),
                  0)[1]
  joint = _one_step(_config(tiny_config.copy_and_resolve_references(),
                            'joint_latent_regressor',
                            **{'method_options.regression_weight': 0.0}),
                    0)[1]
  for name in ('generator', 'discriminator'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 getattr(gan, name), getattr(joint, name))
  # BiGAN's latent regressor is that: a GAN, and E regressing z from the step's G(z)
  # from step 0 on, updated with G and D.
  before, bigan_lr = _one_step(_config(tiny_config, 'bigan_latent_regressor'), 0)[:2]
  assert _changed(before.encoder.params, bigan_lr.encoder.params)
  for name in ('encoder', 'generator', 'discriminator'):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7),
                 getattr(joint, name), getattr(bigan_lr, name))


def test_loss_terms_by_hand():
  z = jnp.array([[1.0, 2.0], [0.0, 0.0]])
  assert float(losses.latent_regression_loss(z, jnp.zeros_like(z))) == pytest.approx(2.5)
  x = jnp.ones((2, 3))
  assert float(losses.cycle_loss(x, x * 0.5, z, z)) == pytest.approx(0.5)
  # KL(N(0, 1) || N(0, 1)) = 0; KL(N(1, e^2) || N(0, 1)) = (1 + e^2 - 1 - 2) / 2 per dim.
  np.testing.assert_allclose(losses.gaussian_kl_to_prior(jnp.zeros((1, 2)),
                                                         jnp.zeros((1, 2))), [0.0])
  np.testing.assert_allclose(losses.gaussian_kl_to_prior(jnp.ones((1, 1)), jnp.ones((1, 1))),
                             [(np.e ** 2 - 2) / 2], rtol=1e-6)
  # Per-example sums over (2, 3) inputs, then the batch mean: (3 + 0) / 2 and (0.75 + 0) / 2
  # for squared errors of 1 and 0.25, and |.| errors of 1 and 0.5.
  x_hat = jnp.stack([jnp.zeros(3), jnp.ones(3)])
  assert float(losses.reconstruction_loss(x, x_hat, 'l2')) == pytest.approx(1.5)
  assert float(losses.reconstruction_loss(x, x_hat, 'l1')) == pytest.approx(1.5)
  assert float(losses.reconstruction_loss(x, x * 0.5, 'l2')) == pytest.approx(0.75)
  assert float(losses.reconstruction_loss(x, x * 0.5, 'l1')) == pytest.approx(1.5)
  with pytest.raises(ValueError, match='norm must be one of'):
    losses.reconstruction_loss(x, x, 'l3')


def test_autoencoder_descends_the_chosen_norm(tiny_config):
  """E and G's metric is the reconstruction error in the configured norm, of the
  same networks' reconstructions at step 0 (D plays no part)."""
  errors = {}
  for norm in choices.RECONSTRUCTION_NORMS:
    config = _config(tiny_config.copy_and_resolve_references(), 'autoencoder',
                     **{'method_options.reconstruction': norm})
    errors[norm] = float(_one_step(config, 0)[2]['reconstruction_loss'])
  assert errors['l2'] != errors['l1'] and min(errors.values()) > 0


def test_two_phase_schedule(tiny_config):
  config = _config(tiny_config.copy_and_resolve_references(), 'post_hoc')
  run = run_setup.RunSetup(config)  # 12 steps, the last 4 learn inference
  assert [run.phase_at(s).name for s in range(12)] == ['gan'] * 8 + ['inference'] * 4
  gan, inference = run.phases
  assert (gan.start, gan.num_steps, inference.start, inference.num_steps) == (0, 8, 8, 4)
  assert (gan.trains, inference.trains) == (('generator', 'discriminator'),
                                            ('encoder', 'discriminator'))
  # Encoder metrics mean something once a phase has trained the encoder.
  assert [run.encoder_trained_by(s) for s in (0, 8, 9, 12)] == [False, False, True, True]
  single = run_setup.RunSetup(_config(tiny_config, 'ali'))
  assert [(p.name, p.start, p.end) for p in single.phases] == [('single', 0, 12)]
  assert single.encoder_trained_by(1)
  with pytest.raises(ValueError, match='outside the run'):
    single.phase_at(12)


def test_post_hoc_trains_a_fresh_discriminator_against_a_frozen_generator(tmp_path,
                                                                          tiny_config):
  config = _config(tiny_config, 'post_hoc', checkpoint_every_steps=4)
  trainer.train_and_evaluate(config, str(tmp_path))
  at_gan_end = helpers.restored_state(str(tmp_path), config, step=8)
  final = helpers.restored_state(str(tmp_path), config)
  # G frozen in the inference phase, E untouched during the GAN phase.
  jax.tree.map(np.testing.assert_array_equal, final.generator, at_gan_end.generator)
  run = run_setup.RunSetup(config)
  initial = state_lib.create_train_state(run)
  jax.tree.map(np.testing.assert_array_equal, at_gan_end.encoder, initial.encoder)
  # The inference phase's D started afresh: 4 Adam steps from a new init.
  assert int(final.discriminator.opt_state[0].count) == 4
  assert _changed(final.encoder.params, initial.encoder.params)
  # An evaluation at the end of the GAN phase leaves out the encoder's metrics
  # (of an encoder still at its initial weights); the final one has them.
  summaries = summaries_lib.Summaries(tmp_path / 'gan_end')
  at_gan_end_metrics = trainer.evaluate(run, str(tmp_path / 'gan_end'), at_gan_end,
                                      data.load_dataset(config), summaries)
  summaries.close()
  with open(tmp_path / workdir_lib.EVAL_FILE) as f:
    final_metrics = json.load(f)
  encoder_metrics = set(final_metrics) - set(at_gan_end_metrics)
  assert encoder_metrics and any('reconstruction' in name for name in encoder_metrics)


@pytest.mark.parametrize('method', choices.TWO_PHASE_METHODS)
def test_gan_phase_from_a_gan_run_is_the_same_run(tmp_path, tiny_config, method):
  """Starting from a finished gan run ends in exactly the state of training it all."""
  alone = _config(tiny_config.copy_and_resolve_references(), method)
  trainer.train_and_evaluate(alone, str(tmp_path / 'alone'))
  gan = _config(tiny_config.copy_and_resolve_references(), 'gan', num_train_steps=8)
  trainer.train_and_evaluate(gan, str(tmp_path / 'gan'))
  reused = _config(tiny_config, method)
  reused.method_options.gan_workdir = str(tmp_path / 'gan')
  trainer.train_and_evaluate(reused, str(tmp_path / 'reused'))
  jax.tree.map(np.testing.assert_array_equal,
               helpers.restored_state(tmp_path / 'reused', reused),
               helpers.restored_state(tmp_path / 'alone', alone))


@pytest.mark.parametrize('gan_changes, message', [
    ({'method': 'ali'}, "config.method: 'ali' there, must be 'gan'"),
    ({'num_train_steps': 6}, 'config.num_train_steps: 6 there, must be 8'),
    ({'optimizer.b1': 0.5}, 'config.optimizer.b1: 0.5 in the workdir, 0.8 now'),
])
def test_a_gan_run_that_is_not_the_gan_phase_is_refused(tmp_path, tiny_config,
                                                        gan_changes, message):
  gan = _config(tiny_config.copy_and_resolve_references(), 'gan', num_train_steps=8)
  gan.update_from_flattened_dict(gan_changes)
  (tmp_path / 'gan').mkdir()
  workdir_lib.save_config(str(tmp_path / 'gan'), gan)
  config = _config(tiny_config, 'latent_regressor')
  config.method_options.gan_workdir = str(tmp_path / 'gan')
  with pytest.raises(ValueError, match=re.escape(message)):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not list((tmp_path / 'run' / 'checkpoints').iterdir())  # nothing trained


def test_an_unfinished_or_missing_gan_run_is_refused(tmp_path, tiny_config):
  gan = _config(tiny_config.copy_and_resolve_references(), 'gan', num_train_steps=8,
                checkpoint_every_steps=4)
  trainer.train_and_evaluate(gan, str(tmp_path / 'gan'))
  shutil.rmtree(tmp_path / 'gan' / 'checkpoints' / '8')  # as if stopped at step 4
  config = _config(tiny_config, 'post_hoc')
  config.method_options.gan_workdir = str(tmp_path / 'gan')
  with pytest.raises(ValueError, match=r'has no checkpoint at step 8.*\[4\]'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))
  config.method_options.gan_workdir = str(tmp_path / 'nowhere')
  with pytest.raises(FileNotFoundError, match='config.method_options.gan_workdir: No such'):
    trainer.train_and_evaluate(config, str(tmp_path / 'run'))


@pytest.mark.parametrize('method, changes, message', [
    ('bigan', {}, "config.method='bigan' learns a deterministic encoder"),
    ('ali', {'model.encoder': 'deterministic'}, "use config.method='bigan'"),
    ('vae', {'model.encoder': 'noise'}, "needs config.model.encoder='gaussian'"),
    ('post_hoc', {'method_options.inference_steps': 0}, 'must be between 1 and'),
    ('latent_regressor', {'method_options.inference_steps': 12}, 'must be between 1 and'),
    ('vea', {}, "config.method='vea' is not allowed"),
    ('ali', {'method_options.gan_workdir': '/runs/gan'}, 'has no GAN phase to take'),
])
def test_method_mismatches_are_named(tiny_config, method, changes, message):
  tiny_config.method = method
  tiny_config.update_from_flattened_dict(changes)
  with pytest.raises(ValueError, match=message):
    validation.check_config(tiny_config, device_count=NUM_DEVICES)


@pytest.mark.parametrize('method,changes', [(m, {}) for m in methods.MIXTURE_METHODS] + [
    ('ali', {'loss_form': 'minimax'}), ('alice', {'method_options.cycle_weight': 0.5}),
    ('bigan_latent_regressor', {'model.encoder': 'deterministic'})])
def test_each_network_gets_the_gradient_of_its_own_loss_only(tiny_config, method, changes):
  config = _config(tiny_config, method, **changes)
  batch = data.load_dataset(config).train_batch(0, global_batch_size=config.batch_size,
                                                seed=config.seed)
  helpers.assert_each_network_gets_its_own_loss_gradient(config, batch)
