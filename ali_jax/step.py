"""The pure ALI/BiGAN train step: (state, batch) -> (state, metrics).

As in the paper's code, ONE forward pass on ONE minibatch gives both players'
gradients, D sees the real pairs (x, E(x)) and the fake pairs (G(z), z) in a
single call (so its batch norm statistics cover the joint batch), and D and
(E, G) are updated simultaneously.
"""
import jax
import jax.numpy as jnp
import optax

from ali_jax import losses


def _device_slice(global_array, device_index, size):
  return jax.lax.dynamic_slice_in_dim(global_array, device_index * size, size)


def _update(network_state, grads, new_batch_stats, optimizer):
  updates, opt_state = optimizer.update(grads, network_state.opt_state,
                                        network_state.params)
  return network_state.replace(params=optax.apply_updates(network_state.params, updates),
                               batch_stats=new_batch_stats, opt_state=opt_state)


def make_train_step(networks, optimizers, *, latent_dim,
                    loss_form=losses.NON_SATURATING, axis_name=None,
                    skip_nonfinite=False):
  """Returns train_step(state, batch) for jit (axis_name=None) or pmap.

  Under pmap, `batch['x']` is this device's part of the global batch; gradients
  and metrics are averaged over `axis_name`, and batch norm (built with the
  same axis name) normalises over the global batch. The prior and encoder
  noise are drawn for the global batch from the step's key and sliced per
  device, so a step on n devices is the same maths as on one device with the
  same global batch (dropout masks, drawn per device, are the exception).
  """
  def train_step(state, batch):
    x = batch['x']
    y = batch.get('y')  # conditions (CelebA attributes) or None
    per_device = x.shape[0]
    if axis_name is None:
      device_index, num_devices = 0, 1
    else:
      device_index = jax.lax.axis_index(axis_name)
      num_devices = jax.lax.psum(1, axis_name)
    step_key = jax.random.fold_in(state.rng, state.step)
    prior_key, encoder_key, dropout_key = jax.random.split(step_key, 3)
    global_shape = (num_devices * per_device, latent_dim)
    z = _device_slice(jax.random.normal(prior_key, global_shape), device_index, per_device)
    encoder_noise = _device_slice(jax.random.normal(encoder_key, global_shape),
                                  device_index, per_device)
    dropout_key = jax.random.fold_in(dropout_key, device_index)

    def players_losses(discriminator_params, encoder_generator_params):
      encoder_params, generator_params = encoder_generator_params
      z_hat, encoder_vars = networks.encoder.apply(
          {'params': encoder_params, 'batch_stats': state.encoder.batch_stats},
          x, encoder_noise, y, train=True, mutable=['batch_stats'])
      x_tilde, generator_vars = networks.generator.apply(
          {'params': generator_params, 'batch_stats': state.generator.batch_stats},
          z, y, train=True, mutable=['batch_stats'])
      # The decoder pairs are conditioned on the same attributes as the data.
      joint_y = None if y is None else jnp.concatenate([y, y])
      logits, discriminator_vars = networks.discriminator.apply(
          {'params': discriminator_params,
           'batch_stats': state.discriminator.batch_stats},
          jnp.concatenate([x, x_tilde]), jnp.concatenate([z_hat, z]), joint_y,
          train=True, mutable=['batch_stats'], rngs={'dropout': dropout_key})
      real_logits, fake_logits = logits[:per_device], logits[per_device:]
      player_losses = (losses.discriminator_loss(real_logits, fake_logits),
                       losses.generator_loss(real_logits, fake_logits, form=loss_form))
      aux = dict(
          batch_stats=(encoder_vars.get('batch_stats', {}),
                       generator_vars.get('batch_stats', {}),
                       discriminator_vars.get('batch_stats', {})),
          real_accuracy=losses.real_accuracy(real_logits),
          fake_accuracy=losses.fake_accuracy(fake_logits))
      return player_losses, aux

    (d_loss, g_loss), pullback, aux = jax.vjp(
        players_losses, state.discriminator.params,
        (state.encoder.params, state.generator.params), has_aux=True)
    # Pulling back (1, 0) and (0, 1) gives each player the gradient of its own
    # loss only; under jit the unused halves of each pullback are dead code.
    discriminator_grads, _ = pullback((jnp.ones_like(d_loss), jnp.zeros_like(g_loss)))
    _, (encoder_grads, generator_grads) = pullback(
        (jnp.zeros_like(d_loss), jnp.ones_like(g_loss)))
    grads = (encoder_grads, generator_grads, discriminator_grads)
    metrics = dict(discriminator_loss=d_loss, generator_loss=g_loss,
                   real_accuracy=aux['real_accuracy'],
                   fake_accuracy=aux['fake_accuracy'])
    if axis_name is not None:
      grads = jax.lax.pmean(grads, axis_name)
      metrics = jax.lax.pmean(metrics, axis_name)
    encoder_grads, generator_grads, discriminator_grads = grads
    metrics.update(grad_norm_encoder=optax.tree.norm(encoder_grads),
                   grad_norm_generator=optax.tree.norm(generator_grads),
                   grad_norm_discriminator=optax.tree.norm(discriminator_grads))

    finite = jnp.all(jnp.isfinite(jnp.stack(list(metrics.values()))))
    metrics['nonfinite_update'] = 1.0 - finite.astype(jnp.float32)

    encoder_stats, generator_stats, discriminator_stats = aux['batch_stats']
    new_state = state.replace(
        step=state.step + 1,
        encoder=_update(state.encoder, encoder_grads, encoder_stats, optimizers.encoder),
        generator=_update(state.generator, generator_grads, generator_stats,
                          optimizers.generator),
        discriminator=_update(state.discriminator, discriminator_grads,
                              discriminator_stats, optimizers.discriminator))
    if skip_nonfinite:
      unchanged = state.replace(step=new_state.step)
      new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                               new_state, unchanged)
    return new_state, metrics

  return train_step
