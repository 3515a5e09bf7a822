"""D's regularisers (config.regularisers, model.discriminator_spectral_norm,
model.discriminator_unary_scores): each equal to its formula on a small case, and absent
where it should be."""
import re

import jax
import numpy as np
import pytest

from ali_jax import data
from ali_jax import losses
from ali_jax.config import validation
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib
from configs import bigan_digits_mlp
from configs import digits
from tests.conftest import NUM_DEVICES


def _run(config):
  validation.check_config(config, device_count=NUM_DEVICES)
  run = run_setup.RunSetup(config, axis_name=None)
  batch = next(data.load_dataset(config).batches(0, global_batch_size=config.batch_size))
  return run, state_lib.create_train_state(run), batch


def _steps(config, count, state=None):
  run, initial, batch = _run(config)
  step = jax.jit(run.train_step(run.phases[0]))
  state, history = state or initial, []
  for _ in range(count):
    state, metrics = step(state, batch)
    history.append(jax.device_get(metrics))
  return state, history


def _same(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_r1_is_the_mean_squared_input_gradient_of_the_real_pairs(tiny_config):
  """The mixture's D has no batch norm, so the penalty's gradient of the summed logits is
  each pair's own gradient: compare with a per-pair gradient taken apart."""
  tiny_config.model.dropout_rate = 0.0
  run, state, batch = _run(tiny_config)
  x = batch['x']
  z = jax.random.normal(jax.random.PRNGKey(1), (len(x), run.latent_dim))
  params = {name: getattr(state, name).params for name in ('encoder', 'generator',
                                                            'discriminator')}
  calls = step_lib.NetworkCalls(run.networks, state, params,
                                dropout_key=jax.random.PRNGKey(2), loss_form='non_saturating')
  calls.discriminate_batches((x, z, None), (x[::-1], z[::-1], None))
  penalty = calls.real_pair_gradient_penalty(lambda logits: logits)
  variables = {'params': state.discriminator.params}
  logit = lambda xi, zi: run.networks.discriminator.apply(variables, xi[None], zi[None],
                                                          train=True)[0]
  grad_x, grad_z = jax.vmap(jax.grad(logit, argnums=(0, 1)))(x, z)
  expected = np.mean(np.sum(grad_x ** 2, 1) + np.sum(grad_z ** 2, 1))
  assert expected > 0
  np.testing.assert_allclose(penalty, expected, rtol=1e-5)


def test_r1_reaches_d_alone_and_gamma_zero_changes_nothing(tiny_config):
  tiny_config.regularisers.r1_gamma = 0.0
  plain, plain_metrics = _steps(tiny_config, 2)
  assert 'r1_penalty' not in plain_metrics[-1]
  tiny_config.regularisers.r1_gamma = 1e4  # large enough to move D's update
  penalised, metrics = _steps(tiny_config, 1)
  plain_one, _ = _steps(_without_r1(tiny_config), 1)
  assert metrics[-1]['r1_penalty'] > 0
  np.testing.assert_allclose(metrics[-1]['discriminator_objective'],
                             metrics[-1]['discriminator_loss'] + 1e4 / 2 * metrics[-1][
                                 'r1_penalty'], rtol=1e-6)
  # E and G descend their own loss: the same update as without the penalty; D's moves.
  for name in ('encoder', 'generator'):
    assert _same(getattr(penalised, name).params, getattr(plain_one, name).params), name
  assert not _same(penalised.discriminator.params, plain_one.discriminator.params)


def _without_r1(config):
  config = config.copy_and_resolve_references()
  config.regularisers.r1_gamma = 0.0
  return config


def test_instance_noise_decays_to_nothing(tiny_config):
  """std (1 - step / anneal_steps): at step 0 the full std, from anneal_steps on none, and
  then the step is the step without noise, bit for bit."""
  tiny_config.regularisers.instance_noise_std = 0.5
  tiny_config.regularisers.instance_noise_anneal_steps = 2
  noisy, metrics = _steps(tiny_config, 3)
  np.testing.assert_allclose([m['instance_noise_std'] for m in metrics], [0.5, 0.25, 0.0])
  quiet = tiny_config.copy_and_resolve_references()
  quiet.regularisers.instance_noise_std = 0.0
  plain, plain_metrics = _steps(quiet, 3)
  assert 'instance_noise_std' not in plain_metrics[-1]
  assert not _same(noisy.discriminator.params, plain.discriminator.params)  # it acted
  # From the same state at step 2, where the std has reached 0, one step of each agrees.
  at_two, _ = _steps(quiet, 2)
  after_noisy, _ = _steps(tiny_config, 1, state=at_two)
  after_plain, _ = _steps(quiet, 1, state=at_two)
  assert _same(after_noisy, after_plain)


def _sigmas_and_kernels(config):
  """({name: kernel}, {name: its power-iteration sigma}) of D after 60 training calls."""
  config.model.discriminator_spectral_norm = True
  run, state, batch = _run(config)
  x = batch['x'][:8]
  z = jax.random.normal(jax.random.PRNGKey(0), (len(x), run.latent_dim))
  discriminator = run.networks.discriminator
  variables = {'params': state.discriminator.params,
               'batch_stats': state.discriminator.batch_stats}
  call = jax.jit(lambda v: discriminator.apply(v, x, z, train=True, mutable=['batch_stats'],
                                               rngs={'dropout': jax.random.PRNGKey(0)})[1])
  for _ in range(60):  # one power iteration per training call
    variables = {**variables, **call(variables)}
  # A kernel at [..., 'Dense_0', 'kernel'] has its sigma at [..., 'SpectralNorm_0',
  # 'Dense_0/kernel/sigma'] in batch_stats: both named here '.../Dense_0/kernel'.
  named = lambda path: '/'.join(k.key for k in path if not k.key.startswith('SpectralNorm_'))
  kernels = {named(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(
      variables['params']) if leaf.ndim > 1}
  sigmas = {named(path)[:-len('/sigma')]: leaf for path, leaf in
            jax.tree_util.tree_leaves_with_path(variables['batch_stats'])
            if path[-1].key.endswith('/sigma')}
  return kernels, sigmas


@pytest.mark.parametrize('get_config', [lambda: None, bigan_digits_mlp.get_config,
                                        digits.get_config],
                         ids=['mixture_maxout', 'bigan_mlp', 'ali_conv'])
def test_spectral_norm_covers_every_kernel_of_each_family(tiny_config, get_config, tmp_path):
  config = get_config() or tiny_config
  if config.dataset != 'mixture':
    config.data.data_dir = str(tmp_path)  # the digits, prepared there on first use
    config.batch_size = 8
  kernels, sigmas = _sigmas_and_kernels(config)
  assert set(sigmas) == set(kernels) and kernels  # every kernel, nothing else
  for name, kernel in kernels.items():
    matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])  # a conv's: (k*k*in, out)
    largest = np.linalg.svd(matrix, compute_uv=False)[0]
    # Power iteration approaches the largest singular value from below (slowly for the
    # wide layers, whose top singular values are close; flax's estimate itself is
    # checked to converge in tests/models/test_bigbigan.py).
    assert 0.95 * largest <= float(sigmas[name]) <= largest * (1 + 1e-5), name


def test_regularisers_need_an_adversarial_discriminator(tiny_config):
  tiny_config.method = 'vae'
  tiny_config.model.encoder = 'gaussian'
  tiny_config.regularisers.r1_gamma = 1.0
  with pytest.raises(ValueError, match=r"r1_gamma=1.0: config.method='vae' has no "
                                       'real/fake discriminator'):
    validation.check_config(tiny_config, device_count=NUM_DEVICES)


# ---- Unary scores (model.discriminator_unary_scores) ----------------------------------

def _discriminator_outputs(config, unary):
  """(D's variables, its outputs on 8 pairs) for `config` with unary scores on or off."""
  config = config.copy_and_resolve_references()
  config.model.discriminator_unary_scores = unary
  validation.check_config(config, device_count=NUM_DEVICES)
  run = run_setup.RunSetup(config, axis_name=None)
  variables = state_lib.create_train_state(run).discriminator
  x = jax.random.uniform(jax.random.PRNGKey(1), (8,) + tuple(run.data_shape))
  z = jax.random.normal(jax.random.PRNGKey(2), (8, run.latent_dim))
  both = {'params': variables.params, 'batch_stats': variables.batch_stats}
  return both, run.networks.discriminator.apply(both, x, z, train=False), (run, x, z)


@pytest.mark.parametrize('get_config', [bigan_digits_mlp.get_config, digits.get_config],
                         ids=['bigan_mlp', 'ali_conv'])
def test_unary_scores_add_two_views_and_leave_the_joint_score_alone(get_config, tmp_path):
  """With unary scores D returns [s_xz, s_x, s_z]; its other parameters keep their names and
  initial values (checkpoints of the joint D load), s_xz is the joint D's logit, s_x moves
  with x alone and s_z with z alone."""
  config = get_config()
  config.method = 'alice'
  config.model.encoder = 'gaussian'
  config.model.prior = 'gaussian'
  config.data.data_dir = str(tmp_path)  # the digits' files are not read: shapes only
  joint_variables, joint, _ = _discriminator_outputs(config, False)
  variables, scores, (run, x, z) = _discriminator_outputs(config, True)
  assert joint.shape == (8,) and scores.shape == (8, 3)
  flat = lambda tree: {jax.tree_util.keystr(p): v
                       for p, v in jax.tree_util.tree_leaves_with_path(tree)}
  joint_leaves, leaves = flat(joint_variables), flat(variables)
  assert set(joint_leaves) < set(leaves)
  assert all(np.array_equal(joint_leaves[k], leaves[k]) for k in joint_leaves)
  np.testing.assert_allclose(scores[:, 0], joint, rtol=1e-6)
  apply = lambda x, z: run.networks.discriminator.apply(variables, x, z, train=False)
  other_x, other_z = apply(x[::-1], z), apply(x, z[::-1])
  np.testing.assert_allclose(other_x[:, 2], scores[:, 2], rtol=1e-6)  # s_z: z alone
  np.testing.assert_allclose(other_z[:, 1], scores[:, 1], rtol=1e-6)  # s_x: x alone
  assert not np.allclose(other_x[:, 1], scores[:, 1])
  assert not np.allclose(other_z[:, 2], scores[:, 2])


def test_unary_scores_sum_alis_loss_over_the_views_and_pair_on_the_joint_score(tmp_path):
  """One ALI step of BiGAN's MLPs with unary scores: D's loss is ALI's loss on each of the
  three views, summed; the pairing diagnostic compares s_xz, as the evaluation's does."""
  config = bigan_digits_mlp.get_config()
  config.method = 'ali'
  config.model.encoder = 'gaussian'
  config.model.prior = 'gaussian'
  config.model.discriminator_unary_scores = True
  config.data.data_dir = str(tmp_path)
  config.batch_size = 8
  run, state, batch = _run(config)
  _, metrics = _steps(config, 1)
  metrics = metrics[0]
  for view in ('x', 'z'):
    assert 0 < metrics[f'real_confidence_{view}'] < 1
    assert 0 < metrics[f'fake_confidence_{view}'] < 1
  real = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]])
  fake = np.array([[-2.0, 1.0, 0.25], [1.5, 0.0, -1.0]])
  softplus = lambda a: np.log1p(np.exp(a))
  expected = sum(np.mean(softplus(-real[:, i])) + np.mean(softplus(fake[:, i]))
                 for i in range(3))
  np.testing.assert_allclose(
      losses.summed_over_views(losses.discriminator_loss, real, fake), expected, rtol=1e-6)
  # At initialisation every score is near 0, so each view's loss is near 2 log 2: the
  # step's D loss sums three of them, where the joint view alone would give one.
  np.testing.assert_allclose(metrics['discriminator_loss'], 3 * 2 * np.log(2), rtol=0.05)
  # The trained model's pairing logit is s_xz, one per pair.
  variables = {'params': state.discriminator.params,
               'batch_stats': state.discriminator.batch_stats}
  z = jax.random.normal(jax.random.PRNGKey(0), (4, run.latent_dim))
  logit = run.jitted_real_logit()(variables, batch['x'][:4], z)
  scores = run.networks.discriminator.apply(variables, batch['x'][:4], z, train=False)
  np.testing.assert_allclose(logit, scores[:, 0], rtol=1e-6)


@pytest.mark.parametrize('change, named', [
    (dict(method='semi_supervised'), "config.method='semi_supervised'"),
    (dict(method='gan'), "config.method='gan'"),
    (dict(architecture='mlp'), "config.model.architecture='mlp'")],
    ids=['k_plus_1', 'gan', 'mixture'])
def test_unary_scores_need_a_d_with_branches_in_alis_game(tiny_config, change, named):
  config = bigan_digits_mlp.get_config() if 'method' in change else tiny_config
  config.model.discriminator_unary_scores = True
  if 'method' in change:
    config.method = change['method']
    config.method_options.num_labels = 100 if change['method'] == 'semi_supervised' else 0
  with pytest.raises(ValueError, match=r'discriminator_unary_scores=True, but .*' +
                     re.escape(named) + '.*set it to False'):
    validation.check_config(config, device_count=NUM_DEVICES)
