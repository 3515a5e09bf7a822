"""Standing batch-norm statistics: recomputed from training batches before evaluation."""
import jax
import numpy as np

from ali_jax import inference
from ali_jax.models import bigbigan_architectures
from ali_jax.settings import choices
from ali_jax.settings import run_settings
from ali_jax.training import run_setup
from ali_jax.training import standing_statistics
from ali_jax.training import state as state_lib
from configs import bigan_mnist_mlp
from configs import bigbigan_fashion_mnist
from configs import svhn_semi_supervised
from tests.models.test_bigbigan import TINY


def _batches(count, seed=0):
  rng = np.random.default_rng(seed)
  return [{'x': rng.uniform(size=(16, 28, 28, 1)).astype(np.float32)} for _ in range(count)]


def test_standing_statistics_are_the_mean_of_each_batchs_statistics():
  """BiGAN's E: x -> FC1024 + b -> LeakyReLU -> FC1024 -> BN: the standing statistics of
  that BN are the mean over the batches of its input's batch mean and variance."""
  config = bigan_mnist_mlp.get_config()
  run = run_setup.RunSetup(config)
  state = state_lib.create_train_state(run)
  batches = _batches(3)
  model = inference.TrainedModel(run, state, standing_batches=batches)
  params = state.encoder.params
  means, variances = [], []
  for batch in batches:
    h = batch['x'].reshape(16, -1) @ params['Dense_0']['kernel'] + params['Dense_0']['bias']
    h = np.where(h > 0, h, 0.2 * h) @ params['Dense_1']['kernel']
    means.append(h.mean(0))
    variances.append(h.var(0))
  used = model._variables  # pylint: disable=protected-access
  standing = used['encoder']['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(standing['mean'], np.mean(means, 0), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(standing['var'], np.mean(variances, 0), rtol=1e-4, atol=1e-6)
  # E's and G's, as BiGAN's --deploy_iters; D plays no part in inference here (only the
  # labelled methods' D classifies), so its are left; the saved statistics are untouched.
  for name in choices.NETWORK_NAMES:
    recomputed = used[name]['batch_stats']['BatchNorm_0']['var']
    saved = getattr(state, name).batch_stats['BatchNorm_0']['var']
    assert np.allclose(recomputed, saved) == (name == 'discriminator'), name
  assert np.all(np.asarray(state.encoder.batch_stats['BatchNorm_0']['var']) == 1.0)


def test_which_networks_get_standing_statistics():
  recomputed = lambda config: standing_statistics.networks_to_recompute(
      run_settings.RunSettings.from_config(config))
  semi = svhn_semi_supervised.get_config()  # D averaged at 0.9999
  assert recomputed(semi) == ('discriminator',)
  semi.evaluation.standing_statistics_batches = 0
  assert recomputed(semi) == ()
  # 'all' of BiGAN's, less D: an unlabelled method's D plays no part in inference.
  assert recomputed(bigan_mnist_mlp.get_config()) == ('encoder', 'generator')


def test_spectral_normalisation_state_is_kept_as_saved(monkeypatch):
  """BigBiGAN's G keeps spectral normalisation's vectors beside its batch norm
  statistics: only the batch norm means and variances are recomputed."""
  # Every kind of BigBiGAN block at the smallest widths (tests/models/test_bigbigan.py).
  monkeypatch.setitem(bigbigan_architectures.ARCHITECTURES, 'bigbigan_28', TINY)
  config = bigbigan_fashion_mnist.get_config()  # G averaged: its statistics recomputed
  config.batch_size = 4
  run = run_setup.RunSetup(config)
  state = state_lib.create_train_state(run)
  rng = np.random.default_rng(0)
  batches = [{'x': rng.uniform(size=(4, 28, 28, 1)).astype(np.float32)} for _ in range(2)]
  model = inference.TrainedModel(run, state, standing_batches=batches)
  saved = jax.tree_util.tree_leaves_with_path(state.generator.batch_stats)
  standing = dict(jax.tree_util.tree_leaves_with_path(
      model._variables['generator']['batch_stats']))  # pylint: disable=protected-access
  kinds = {path[-1].key.split('/')[-1] for path, _ in saved}
  assert {'mean', 'var', 'u', 'sigma'} <= kinds
  for path, value in saved:
    if path[-1].key in ('mean', 'var'):
      assert not np.allclose(standing[path], value), path
    else:
      np.testing.assert_array_equal(standing[path], value)
