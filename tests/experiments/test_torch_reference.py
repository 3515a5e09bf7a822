"""The PyTorch reference computes what ali_jax computes (same layers, losses, gradients).

torch is a test dependency (requirements-dev.txt) for this comparison and the
benchmark; ali_jax itself does not need it.
"""
import jax
import numpy as np
import pytest

from ali_jax.models import ali_architectures
from ali_jax.settings import choices
from ali_jax.training import run_setup
from ali_jax.training import state as state_lib
from ali_jax.training import step as step_lib
from configs import svhn

torch = pytest.importorskip('torch')  # requirements-dev.txt; skipped where it is absent
from experiments import torch_reference  # pylint: disable=g-import-not-at-top,wrong-import-position

BATCH = 6


def _flax_losses_and_grads(run, state, x, z, noise):
  objective = run.phases[0].objective

  def terms(params):
    calls = step_lib.NetworkCalls(run.networks, state, params,
                                  dropout_key=jax.random.PRNGKey(0),
                                  loss_form=run.config.loss_form)
    return objective.losses(calls, x, None, z, noise)

  params = {n: getattr(state, n).params for n in choices.NETWORK_NAMES}
  losses = terms(params)
  d_grads = jax.grad(lambda p: terms(p)['discriminator_loss'])(params)['discriminator']
  g_grads = jax.grad(lambda p: terms(p)['generator_loss'])(params)
  return losses, d_grads, g_grads


def test_torch_step_matches_the_flax_step():
  config = svhn.get_config()
  config.model.dropout_rate = 0.0  # dropout masks differ between frameworks
  run = run_setup.RunSetup(config, axis_name=None)
  state = state_lib.create_train_state(run)
  rng = np.random.default_rng(0)
  # A non-trivial pixel bias, so that its layout is checked too.
  state = state_lib.with_output_bias_from(
      state, rng.uniform(0.05, 0.95, (BATCH, 32, 32, 3)).astype(np.float32))
  x = rng.uniform(size=(BATCH, 32, 32, 3)).astype(np.float32)
  z = rng.standard_normal((BATCH, 256)).astype(np.float32)
  noise = rng.standard_normal((BATCH, 256)).astype(np.float32)
  losses, d_grads, g_grads = _flax_losses_and_grads(run, state, x, z, noise)

  step = torch_reference.ALIStep('svhn', dropout_rate=0.0)
  torch_reference.copy_from_flax(step, jax.device_get(state),
                                 ali_architectures.ARCHITECTURES['svhn'])
  (d_loss, g_loss), grads = step.gradients(
      torch.from_numpy(x.transpose(0, 3, 1, 2)), torch.from_numpy(z), torch.from_numpy(noise))
  np.testing.assert_allclose(d_loss.item(), float(losses['discriminator_loss']), rtol=1e-5)
  np.testing.assert_allclose(g_loss.item(), float(losses['generator_loss']), rtol=1e-5)

  def check(torch_param, flax_kernel, transposed=False, tolerance=1e-2):
    got = grads[torch_param].numpy()
    want = np.asarray(flax_kernel)
    want = (want[::-1, ::-1].transpose(2, 3, 0, 1) if transposed
            else want.transpose(3, 2, 0, 1) if want.ndim == 4 else want.transpose(2, 0, 1))
    # float32 sums in another order, amplified through batch norm over 6 examples
    # (relative differences up to ~2e-3 seen); a layout or sign mistake is of order 1.
    assert np.linalg.norm(got - want) < tolerance * np.linalg.norm(want)

  check(step.discriminator.x_stack.convs[0].weight,
        d_grads['ConvStack_0']['Conv_0']['kernel'])
  check(step.discriminator.joint.convs[-1].weight, d_grads['ConvStack_2']['Conv_2']['kernel'])
  # The encoder's first layer gets its gradient through D_z, D_xz and six batch
  # norms over 6 examples: on some CPUs flax's own exact formulations ('plain'
  # and 'per_shape') differ there by 4.2 % (measured 2026-11-29), so float32
  # noise alone reaches a few per cent. A layout or sign mistake is still of order 1.
  check(step.encoder.stack.convs[0].weight,
        g_grads['encoder']['ConvStack_0']['Conv_0']['kernel'], tolerance=1e-1)
  check(step.generator.stack.convs[1].weight,
        g_grads['generator']['ConvStack_0']['PaddedConvTranspose_1']['kernel'],
        transposed=True)
  check(step.generator.pixel_bias, g_grads['generator']['output_bias'])


def test_torch_step_updates_every_network():
  torch.manual_seed(0)
  step = torch_reference.ALIStep('digits')
  before = [p.detach().clone() for net in step.networks() for p in net.parameters()]
  d_loss, g_loss = step(torch.rand(4, 1, 32, 32), torch.randn(4, 32), torch.randn(4, 32))
  assert np.isfinite(float(d_loss)) and np.isfinite(float(g_loss))
  after = [p.detach() for net in step.networks() for p in net.parameters()]
  assert all(not torch.equal(a, b) for a, b in zip(before, after))
