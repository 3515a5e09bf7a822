"""D's regularisers (config.regularisers, model.discriminator_spectral_norm): each equal to
its formula on a small case, and absent where it should be."""
import jax
import numpy as np
import pytest

from ali_jax import data
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

