"""train_and_evaluate(config, workdir): the ALI/BiGAN training loop.

Order of a run: check the config, build data and networks, restore the latest
checkpoint in the workdir if there is one (automatic resume), then loop
step -> metrics -> (log, checkpoint, evaluate) to config.num_train_steps, and
evaluate once more at the end.
"""
import collections
import json
import os
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import matplotlib.image
import numpy as np
import tensorboardX

from ali_jax import checkpoints
from ali_jax import data
from ali_jax import evaluation
from ali_jax import inference
from ali_jax import losses
from ali_jax import networks as networks_lib
from ali_jax import preemption
from ali_jax import state as state_lib
from ali_jax import step as step_lib

DEVICE_AXIS = 'batch'
PREFETCH_BATCHES = 2  # batches on the devices ahead of the step that needs them
EVAL_FILE = 'eval.json'
IMAGE_DIR = 'images'


def check_config(config, *, device_count):
  """Fails fast, before anything compiles, on values the run cannot use."""
  for field in ('num_train_steps', 'log_every_steps', 'eval_every_steps',
                'checkpoint_every_steps', 'batch_size'):
    if not isinstance(config[field], int) or config[field] <= 0:
      raise ValueError(f'config.{field}={config[field]!r} must be a positive integer.')
  if config.batch_size % device_count:
    raise ValueError(f'config.batch_size={config.batch_size} must be divisible by the '
                     f'number of devices ({device_count}).')
  if config.loss_form not in losses.LOSS_FORMS:
    raise ValueError(f'config.loss_form={config.loss_form!r}; expected one of '
                     f'{losses.LOSS_FORMS}.')
  if config.model.encoder not in networks_lib.ENCODER_KINDS:
    raise ValueError(f'config.model.encoder={config.model.encoder!r}; expected one of '
                     f'{networks_lib.ENCODER_KINDS}.')
  data.data_shape(config)


def shard_for_devices(batch, num_devices):
  """(n, ...) -> (num_devices, n // num_devices, ...) for the pmapped step."""
  return jax.tree.map(lambda a: a.reshape((num_devices, -1) + a.shape[1:]), batch)


def device_batches(dataset, config, steps):
  """This process's batch for each of `steps`, already on the local devices.

  Batches are put on the devices PREFETCH_BATCHES steps ahead, so the host
  prepares the next batch while the devices run the current step.
  """
  devices = jax.local_devices()
  sharding = jax.sharding.NamedSharding(jax.sharding.Mesh(np.array(devices), (DEVICE_AXIS,)),
                                        jax.sharding.PartitionSpec(DEVICE_AXIS))
  ready = collections.deque()
  for step in steps:
    batch = dataset.train_batch(step, global_batch_size=config.batch_size, seed=config.seed,
                                process_index=jax.process_index(),
                                process_count=jax.process_count())
    ready.append(jax.device_put(shard_for_devices(batch, len(devices)), sharding))
    if len(ready) > PREFETCH_BATCHES:
      yield ready.popleft()
  yield from ready


def _format_duration(seconds):
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'


def raise_if_not_finite(metrics, step, workdir):
  """Stops a diverged run before it can log or checkpoint non-finite values."""
  bad = sorted(k for k, v in metrics.items() if not np.all(np.isfinite(v)))
  if bad:
    raise FloatingPointError(
        f'Training diverged: {", ".join(bad)} not finite at step {step}. The checkpoints '
        f'in {checkpoints.checkpoint_dir(workdir)} are from before this and were kept; '
        'try a lower config.optimizer.learning_rate.')


def evaluate(config, workdir, state, dataset, writer):
  """Scores the current state; process 0 writes eval.json, figures and summaries."""
  model = inference.TrainedModel(config, state)
  metrics, arrays = evaluation.evaluate_mixture(
      model, dataset, num_samples=config.data.num_eval_samples, seed=config.seed)
  metrics['step'] = model.step
  if jax.process_index() == 0:
    # Written to a temporary file and renamed: a reader never sees half a file.
    path = os.path.join(workdir, EVAL_FILE)
    with open(path + '.tmp', 'w') as f:
      json.dump(metrics, f, indent=2, sort_keys=True)
    os.replace(path + '.tmp', path)
    figures = evaluation.save_mixture_figures(os.path.join(workdir, IMAGE_DIR), arrays,
                                              step=model.step)
    for name, value in metrics.items():
      writer.add_scalar(f'eval/{name}', value, model.step)
    for figure in figures:
      name = os.path.splitext(os.path.basename(figure))[0]
      writer.add_image(f'eval/{name}', matplotlib.image.imread(figure)[..., :3], model.step,
                       dataformats='HWC')
    writer.flush()
  logging.info('Evaluation at step %d: %s', model.step,
               ', '.join(f'{k}={v:.4g}' for k, v in sorted(metrics.items())))
  return metrics


def train_and_evaluate(config, workdir):
  """Trains as `config` says, in `workdir`; returns the final evaluation metrics.

  On SIGTERM (how pods and clusters preempt a job) it saves a checkpoint at the
  current step and returns None; the same call later continues from there.
  """
  if '://' in workdir:
    raise ValueError(f'--workdir={workdir}: URLs are not supported yet. Use a path on a '
                     'filesystem that every host sees (NFS, Filestore, or a bucket '
                     'mounted with gcsfuse).')
  workdir = os.path.abspath(workdir)
  check_config(config, device_count=jax.device_count())
  is_chief = jax.process_index() == 0
  if is_chief:
    os.makedirs(workdir, exist_ok=True)
    inference.save_config(workdir, config)

  # ---- Data, networks, state --------------------------------------------------
  dataset = data.load(config)
  networks = networks_lib.build_networks(
      config.model, data_shape=data.data_shape(config), axis_name=DEVICE_AXIS)
  optimizers = state_lib.make_optimizers(config)
  state = state_lib.create_train_state(config)
  manager = checkpoints.make_manager(workdir, max_to_keep=config.max_checkpoints_to_keep)
  if manager.latest_step() is not None:
    state = checkpoints.restore(manager, state)
    logging.info('Resumed from the checkpoint at step %d in %s.',
                 int(state.step), checkpoints.checkpoint_dir(workdir))

  # ---- The update step ----------------------------------------------------------
  # The pmapped step returns the state replicated over this host's devices;
  # placing it there first lets the step donate it from the first call.
  replicated = jax.sharding.NamedSharding(
      jax.sharding.Mesh(np.array(jax.local_devices()), (DEVICE_AXIS,)),
      jax.sharding.PartitionSpec())
  state = jax.device_put(state, replicated)
  train_step = jax.pmap(
      step_lib.make_train_step(networks, optimizers, latent_dim=config.model.latent_dim,
                               loss_form=config.loss_form, axis_name=DEVICE_AXIS),
      axis_name=DEVICE_AXIS, in_axes=(None, 0), out_axes=(None, None),
      donate_argnums=(0,))
  # XLA:CPU can deadlock in its collective rendezvous when steps with
  # collectives are queued back to back; waiting for each step avoids it.
  wait_every_step = jax.default_backend() == 'cpu'

  # ---- The loop -----------------------------------------------------------------
  writer = tensorboardX.SummaryWriter(workdir) if is_chief else None
  watcher = preemption.PreemptionWatcher()
  start_step = int(jax.device_get(state.step))
  history = []
  timer_start, timer_step = None, start_step
  steps = range(start_step, config.num_train_steps)
  for step, batch in zip(steps, device_batches(dataset, config, steps)):
    state, metrics = train_step(state, batch)
    history.append(metrics)
    if wait_every_step:
      jax.block_until_ready(metrics)
    if timer_start is None:  # the first step compiled; time from here
      timer_start, timer_step = time.time(), step + 1
    done = step + 1

    if done % config.log_every_steps == 0 or done == config.num_train_steps:
      means = {k: float(np.mean([m[k] for m in jax.device_get(history)]))
               for k in history[0]}
      history = []
      raise_if_not_finite(means, done, workdir)
      elapsed = time.time() - timer_start
      rate = (done - timer_step) / elapsed if elapsed > 0 else float('nan')
      eta = (config.num_train_steps - done) / rate if rate > 0 else 0
      logging.info('step %d/%d | D loss %.3f | E,G loss %.3f | D acc real %.2f fake %.2f'
                   ' | %.1f steps/s | ETA %s', done, config.num_train_steps,
                   means['discriminator_loss'], means['generator_loss'],
                   means['real_accuracy'], means['fake_accuracy'], rate,
                   _format_duration(eta))
      if is_chief:
        for name, value in means.items():
          writer.add_scalar(f'train/{name}', value, done)
        writer.add_scalar('train/steps_per_second', rate, done)

    preempted = watcher.reached(done)
    if (done % config.checkpoint_every_steps == 0 or done == config.num_train_steps
        or preempted):
      raise_if_not_finite(jax.device_get(metrics), done, workdir)
      checkpoints.save(manager, state)
    if preempted:
      break
    if done % config.eval_every_steps == 0 and done != config.num_train_steps:
      evaluate(config, workdir, state, dataset, writer)

  # ---- Final evaluation -----------------------------------------------------------
  watcher.close()
  manager.wait_until_finished()
  manager.close()
  if jax.process_count() > 1:
    # Every host must end with the same parameters; a silent divergence
    # between hosts would corrupt everything that follows.
    multihost_utils.assert_equal(
        inference.host_copy((state.encoder.params, state.generator.params,
                   state.discriminator.params)),
        'The hosts ended with different parameters.')
  if int(jax.device_get(state.step)) < config.num_train_steps:
    logging.warning('Preempted: saved a checkpoint at step %d in %s; run the same '
                    'command again to continue.', int(jax.device_get(state.step)),
                    checkpoints.checkpoint_dir(workdir))
    if is_chief:
      writer.close()
    return None
  metrics = evaluate(config, workdir, state, dataset, writer)
  if is_chief:
    writer.close()
    logging.info('Done. Metrics: %s  Figures: %s', os.path.join(workdir, EVAL_FILE),
                 os.path.join(workdir, IMAGE_DIR))
  return metrics
