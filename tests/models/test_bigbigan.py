"""BigBiGAN: its losses, spectral norm, networks, EMA, resume and pmap (tiny tables)."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ali_jax import data
from ali_jax import losses
from ali_jax.config import validation
from ali_jax.hosts import devices
from ali_jax.models import bigbigan_architectures
from ali_jax.models import bigbigan_networks as bb
from ali_jax.runs import checkpoints
from ali_jax.settings import run_settings
from ali_jax.training import methods
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from configs import bigbigan_fashion_mnist
from tests import helpers
from tests.conftest import NUM_DEVICES

AXIS = devices.AXIS_NAME
# Every kind of block once, at the smallest widths: G 7 -> 14 -> 28 with
# self-attention at 14x14, one D block down to 14x14 then attention, one
# encoder stage; 120 latents in G's three chunks of 40.
TINY = bigbigan_architectures.Architecture(
    image_size=28, channels=1, generator_base=7, generator_channels=(8, 8, 8),
    discriminator_channels=(8,), discriminator_downsample=(True,), encoder_stem=8,
    encoder_stages=(bigbigan_architectures.EncoderStage(8, 1, 2),), encoder_bottleneck=False,
    encoder_head=(16, 1), unary_z=(16, 2), joint=(16, 1), attention_resolution=14)


@pytest.fixture
def config(monkeypatch):
  monkeypatch.setitem(bigbigan_architectures.ARCHITECTURES, 'bigbigan_28', TINY)
  config = bigbigan_fashion_mnist.get_config()
  config.data_source = 'fake'
  config.batch_size = 8
  config.evaluation.class_metrics = False
  config.data.num_heldout = 16
  config.data.num_eval_samples = 16
  config.parameter_average.decay = 0.5
  config.update_from_flattened_dict(dict(num_train_steps=4, checkpoint_every_steps=4,
                                         eval_every_steps=1000, log_every_steps=4))
  return config


def test_losses_against_hand_computed_values():
  # Rows [s_xz, s_x, s_z]; every loss is a mean over all 3N = 6 scores.
  encoder_scores = jnp.array([[0.5, -2.0, 1.5], [1.0, 0.0, 2.5]])
  generator_scores = jnp.array([[-0.5, 3.0, -1.5], [0.0, -2.0, 2.0]])
  # relu(1 - s): 0.5, 3, 0, 0, 1, 0 -> 4.5 / 6; relu(1 + s): 0.5, 4, 0, 1, 0, 3 -> 8.5 / 6.
  np.testing.assert_allclose(losses.bigbigan_discriminator_loss(encoder_scores,
                                                                generator_scores), 13 / 6,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.bigbigan_encoder_loss(encoder_scores), 3.5 / 6, rtol=1e-6)
  np.testing.assert_allclose(losses.bigbigan_generator_loss(generator_scores), -1 / 6, rtol=1e-6)
  # E's and G's losses are linear: their gradient is 1/(3N) for every score.
  np.testing.assert_allclose(jax.grad(losses.bigbigan_encoder_loss)(encoder_scores),
                             np.full((2, 3), 1 / 6))
  np.testing.assert_allclose(jax.grad(losses.bigbigan_generator_loss)(generator_scores),
                             np.full((2, 3), -1 / 6))


class _Normalised(nn.Module):
  layer: nn.Module

  @nn.compact
  def __call__(self, h, *, train):
    return bb._normalised(self.layer, h, train)  # pylint: disable=protected-access


@pytest.mark.parametrize('layer, input_shape, matrix_shape', [
    (nn.Dense(5), (1, 7), (7, 5)),
    (nn.Conv(6, (3, 3)), (1, 8, 8, 4), (36, 6)),  # a conv kernel as a (k*k*in, out) matrix
])
def test_spectral_norm_estimate_converges_to_the_largest_singular_value(layer, input_shape,
                                                                        matrix_shape):
  module = _Normalised(layer)
  h = jnp.ones(input_shape)
  variables = module.init(jax.random.PRNGKey(0), h, train=False)
  kernel = np.asarray(variables['params']['layer']['kernel']).reshape(matrix_shape)
  largest = np.linalg.svd(kernel, compute_uv=False)[0]
  apply = jax.jit(lambda v: module.apply(v, h, train=True, mutable=['batch_stats'])[1])
  sigmas = []
  for _ in range(60):  # one power iteration per training call
    variables = {**variables, **apply(variables)}
    (sigma,) = [v for k, v in jax.tree_util.tree_leaves_with_path(variables['batch_stats'])
                if 'sigma' in jax.tree_util.keystr(k)]
    sigmas.append(float(sigma))
  errors = np.abs(np.array(sigmas) - largest)
  assert errors[0] > 1e-3 * largest  # one iteration is not there yet
  assert errors[-1] < errors[0] / 10 and errors[-1] < 2e-4 * largest
  # The layer computes with its kernel divided by that estimate: spectral norm 1.
  weights = variables['params']['layer']
  np.testing.assert_allclose(
      module.apply(variables, h, train=False),
      layer.apply({'params': {**weights, 'kernel': weights['kernel'] / largest}}, h),
      rtol=1e-4, atol=1e-6)


def _hand_count_32px():
  """Parameters of the 'bigbigan_32' networks from the layer list (docstring of
  bigbigan_networks.py), counted by hand: (G, D, E)."""
  conv = lambda k, cin, cout, bias=True: k * k * cin * cout + (cout if bias else 0)
  dense = lambda n_in, n_out: n_in * n_out + n_out
  chunk = 120 // 4
  cbn = 2 * dense(chunk, 256)  # gain and offset of one conditional batch norm
  # G's convs and linear layer have no bias: batch norm or the output bias follows.
  g_block = 2 * cbn + conv(3, 256, 256, False) + conv(3, 256, 256, False) + conv(
      1, 256, 256, False)
  generator = (chunk * 4 * 4 * 256 + 3 * g_block + 2 * 256  # last BN: scale, offset
               + conv(3, 256, 3, False) + 32 * 32 * 3)        # + per-pixel bias
  d_blocks = (conv(3, 3, 128) + conv(3, 128, 128) + conv(1, 3, 128)  # first: 1x1 shortcut
              + conv(3, 128, 128) + conv(3, 128, 128) + conv(1, 128, 128)  # down: 1x1
              + 2 * (conv(3, 128, 128) + conv(3, 128, 128)))  # same size and width: identity
  h_mlp = dense(120, 512) + dense(512, 512)
  j_mlp = dense(128 + 512, 512) + dense(512, 512)
  discriminator = d_blocks + h_mlp + j_mlp + dense(512, 1) + dense(128, 1) + dense(512, 1)
  bn = lambda c: 2 * c
  def block(cin, cout, stride):
    shortcut = conv(1, cin, cout, bias=False) if stride != 1 or cin != cout else 0
    return bn(cin) + conv(3, cin, cout, False) + bn(cout) + conv(3, cout, cout, False) + (
        shortcut)
  resnet = conv(3, 3, 64, False) + sum(
      block(cin, cout, stride) + block(cout, cout, 1)
      for cin, cout, stride in ((64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)))
  encoder = resnet + bn(512) + 2 * dense(512, 512) + dense(512, 2 * 120)
  return generator, discriminator, encoder


def test_param_counts_of_the_32px_networks_by_hand():
  config = bigbigan_fashion_mnist.get_config()
  config.model.architecture = 'bigbigan_32'
  networks = bb.build(config.model, data_shape=(32, 32, 3), axis_name=None, dtype=jnp.float32,
                      discriminator_outputs=1)
  x, z = jnp.zeros((1, 32, 32, 3)), jnp.zeros((1, 120))
  key = jax.random.PRNGKey(0)
  count = lambda shapes: sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes['params']))
  shapes = dict(
      generator=jax.eval_shape(lambda: networks.generator.init(key, z, train=False)),
      discriminator=jax.eval_shape(lambda: networks.discriminator.init(key, x, z,
                                                                       train=False)),
      encoder=jax.eval_shape(lambda: networks.encoder.init(key, x, z, train=False)))
  assert (count(shapes['generator']), count(shapes['discriminator']),
          count(shapes['encoder'])) == _hand_count_32px()
  # Spectral norm keeps one u vector and one sigma per normalised kernel of G and D.
  g_stats = jax.tree_util.tree_leaves_with_path(shapes['generator']['batch_stats'])
  assert sum('/u' in jax.tree_util.keystr(k) for k, _ in g_stats) == 1 + 3 * 7 + 1
  assert shapes['discriminator'].get('batch_stats') is not None


def test_discriminator_scores_every_pair_three_ways_from_its_inputs(config):
  discriminator = run_setup.RunSetup(config, axis_name=None).networks.discriminator
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)
  z = rng.normal(size=(4, 120)).astype(np.float32)
  variables = discriminator.init(jax.random.PRNGKey(0), x, z, train=False)
  d = jax.jit(lambda x, z: discriminator.apply(variables, x, z, train=False))
  scores = d(x, z)
  assert scores.shape == (4, 3)
  other_z = d(x, rng.normal(size=(4, 120)).astype(np.float32))
  other_x = d(rng.uniform(size=(4, 28, 28, 1)).astype(np.float32), z)
  # s_x reads x only, s_z reads z only, s_xz reads both.
  np.testing.assert_array_equal(other_z[:, 1], scores[:, 1])
  np.testing.assert_array_equal(other_x[:, 2], scores[:, 2])
  assert not np.allclose(other_z[:, 0], scores[:, 0])
  assert not np.allclose(other_x[:, 0], scores[:, 0])
  assert not np.allclose(other_z[:, 2], scores[:, 2])
  assert not np.allclose(other_x[:, 1], scores[:, 1])


def test_step_averages_resume_and_four_devices(tmp_path, config):
  """One compiled step serves four checks (each compile of these networks is slow
  on a CPU): the objective, the EMA update, a checkpoint round trip continuing
  bit for bit, and 4 devices equal to 1."""
  validation.check_config(config, device_count=NUM_DEVICES)
  (phase,) = methods.phases(run_settings.RunSettings.from_config(config))
  assert phase.objective.minimises == dict(encoder='encoder_loss', generator='generator_loss',
                                           discriminator='discriminator_loss')
  run = run_setup.RunSetup(config, axis_name=None)
  initial = state_lib.create_train_state(run)
  assert set(initial.averages) == {'encoder', 'generator'}
  dataset = data.load_dataset(config)
  batches = [next(dataset.batches(s, global_batch_size=config.batch_size)) for s in range(4)]
  step = jax.jit(run.train_step(phase))

  first, metrics = helpers.run_steps(step, initial, batches[:1])
  metrics = jax.device_get(metrics)
  assert all(np.isfinite(v) for v in metrics.values())
  # The pairing diagnostic of the joint score, and the softplus encoder's posterior.
  assert 0 <= metrics['pairing_accuracy'] <= 1 and metrics['posterior_std'] > 0
  # Each loss is the mean of its pairs' three score means (equal numbers of each).
  for side, sign in (('encoder', 1), ('generator', -1)):
    np.testing.assert_allclose(
        metrics[f'{side}_loss'],
        sign * np.mean([metrics[f'{side}_{n}_score'] for n in ('joint', 'x', 'z')]), rtol=1e-5)
  # The EMA at decay 0.5 from the initial parameters.
  for name in ('encoder', 'generator'):
    jax.tree.map(lambda a, p0, p1: np.testing.assert_allclose(a, 0.5 * p0 + 0.5 * p1,
                                                              rtol=1e-6, atol=1e-8),
                 first.averages[name], getattr(initial, name).params,
                 getattr(first, name).params)
  # The spectral norms' u vectors are state too: the first step moved them.
  assert not np.array_equal(jax.tree.leaves(initial.discriminator.batch_stats)[-1],
                            jax.tree.leaves(first.discriminator.batch_stats)[-1])

  second, _ = helpers.run_steps(step, first, batches[1:2])
  manager = checkpoints.make_manager(str(tmp_path))
  checkpoints.save(manager, second, timeout_s=60)
  checkpoints.wait_for_writes(manager, 60)
  restored = checkpoints.restore(manager, initial)
  manager.close()
  resumed, _ = helpers.run_steps(step, restored, batches[2:])
  straight, _ = helpers.run_steps(step, second, batches[2:])
  jax.tree.map(np.testing.assert_array_equal, jax.device_get(resumed),
               jax.device_get(straight))

  pmapped = jax.pmap(run_setup.RunSetup(config, axis_name=AXIS).train_step(phase),
                     axis_name=AXIS, in_axes=(None, 0), out_axes=(None, None),
                     devices=jax.local_devices()[:NUM_DEVICES])
  many, _ = helpers.run_steps(pmapped, initial, batches[:2], shard=NUM_DEVICES)
  check = functools.partial(np.testing.assert_allclose, rtol=2e-5, atol=2e-6)
  jax.tree.map(check, jax.device_get(many), jax.device_get(second))


@pytest.mark.parametrize('changes, message', [
    (dict(method='ali'), "BigBiGAN's networks .* go together"),
    (dict(**{'model.encoder': 'deterministic'}), "needs|Gaussian q"),
    (dict(**{'model.architecture': 'fashion_mnist'}), "go together"),
    (dict(**{'model.latent_dim': 64}), 'latent_dim=64'),
])
def test_bad_bigbigan_settings_are_named(config, changes, message):
  config.update_from_flattened_dict(changes)
  with pytest.raises(ValueError, match=message):
    validation.check_config(config, device_count=1)


def test_each_network_gets_the_gradient_of_its_own_loss_only(config):
  """BigBiGAN's three losses: D the hinge, E the encoder-pair score, G the generator's."""
  batch = next(data.load_dataset(config).batches(0, global_batch_size=config.batch_size))
  helpers.assert_each_network_gets_its_own_loss_gradient(config, batch, jit_references=True)
