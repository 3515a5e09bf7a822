"""train_and_evaluate(config, workdir): the ALI/BiGAN training loop.

Order of a run: check the config (before anything compiles), lock the workdir
and check that it holds no run of an incompatible config, build data and
networks, restore the newest intact checkpoint if there is one (automatic
resume), then loop step -> metrics -> (log, checkpoint, evaluate) to
config.num_train_steps, and evaluate once more at the end.
"""
import collections
import contextlib
import json
import os
import time

from absl import logging
import jax
from jax.experimental import multihost_utils
import numpy as np
from PIL import Image
import tensorboardX

from ali_jax import checkpoints
from ali_jax import config_validation
from ali_jax import data
from ali_jax import evaluation
from ali_jax import inference
from ali_jax import networks as networks_lib
from ali_jax import objectives
from ali_jax import preemption
from ali_jax import state as state_lib
from ali_jax import step as step_lib
from ali_jax import workdir as workdir_lib

DEVICE_AXIS = 'batch'
PREFETCH_BATCHES = 2  # batches on the devices ahead of the step that needs them
EVAL_FILE = 'eval.json'
IMAGE_DIR = 'images'
INITIAL_BIAS_IMAGES = 500  # the paper sets the generator's output bias from 500 images


# ---- Input ------------------------------------------------------------------------

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
  host_batches = dataset.batches(steps.start, global_batch_size=config.batch_size,
                                 process_index=jax.process_index(),
                                 process_count=jax.process_count())
  ready = collections.deque()
  for _, batch in zip(steps, host_batches):
    ready.append(jax.device_put(shard_for_devices(batch, len(devices)), sharding))
    if len(ready) > PREFETCH_BATCHES:
      yield ready.popleft()
  yield from ready


def make_pmapped_train_step(config, networks, phase):
  """The train step of `phase`, pmapped over the local devices as the trainer runs it.

  The state goes in unreplicated (in_axes None) and comes out the same on every
  device; it is donated, so its buffers are reused for the new state.
  """
  return jax.pmap(
      step_lib.make_train_step(networks, state_lib.make_optimizers(config, phase),
                               objectives.objective(config, phase),
                               latent_dim=config.model.latent_dim,
                               loss_form=config.loss_form, axis_name=DEVICE_AXIS,
                               skip_nonfinite=config.nonfinite == 'skip'),
      axis_name=DEVICE_AXIS, in_axes=(None, 0), out_axes=(None, None), donate_argnums=(0,))


def replicate_on_local_devices(tree):
  """`tree` placed whole on every local device, as the pmapped step returns its state."""
  return jax.device_put(tree, jax.sharding.NamedSharding(
      jax.sharding.Mesh(np.array(jax.local_devices()), (DEVICE_AXIS,)),
      jax.sharding.PartitionSpec()))


# ---- Divergence -------------------------------------------------------------------

def _what_is_not_finite(metrics):
  losses = [k for k in sorted(metrics) if not k.startswith('grad_norm_')
            and not k.endswith('_accuracy') and k != 'nonfinite_update'
            and not np.isfinite(metrics[k])]
  networks = [n for n in networks_lib.NETWORK_NAMES
              if not np.isfinite(metrics.get(f'grad_norm_{n}', 0.0))]
  parts = [f'non-finite {", ".join(losses)}'] if losses else []
  if networks:
    parts.append(f'non-finite gradients in the {", ".join(networks)}')
  return '; '.join(parts) or 'a non-finite metric'


def check_divergence(history, first_step, config, workdir):
  """Raises FloatingPointError on the first non-finite step of `history` (host metrics).

  history[i] holds the metrics of step first_step + i + 1 (steps count updates
  done). With config.nonfinite='skip', skipped steps are allowed unless every
  step of `history` was skipped: the run would then make no progress at all.
  """
  bad = [i for i, m in enumerate(history) if m['nonfinite_update'] > 0]
  if not bad or (config.nonfinite == 'skip' and len(bad) < len(history)):
    return
  step = first_step + bad[0] + 1
  advice = ('The checkpoints in {} are from before it and were kept. Lower '
            'config.optimizer.learning_rate, or set config.nonfinite=skip to skip such '
            'updates.').format(checkpoints.checkpoint_dir(workdir))
  if config.nonfinite == 'skip':
    raise FloatingPointError(
        f'Every update of steps {first_step + 1}..{first_step + len(history)} was skipped '
        f'as non-finite ({_what_is_not_finite(history[0])}). {advice}')
  raise FloatingPointError(
      f'Training diverged at step {step}: {_what_is_not_finite(history[bad[0]])}. {advice}')


def summarise(history):
  """Means over the steps of `history`, skipped (non-finite) updates left out.

  A two-phase method's history can span both phases: each metric is averaged
  over the steps that have it.
  """
  kept = [m for m in history if m['nonfinite_update'] == 0] or history
  names = sorted({k for m in history for k in m})
  means = {k: float(np.mean([m[k] for m in kept if k in m] or [np.nan])) for k in names}
  means['nonfinite_update'] = float(sum(m['nonfinite_update'] for m in history))
  return means


# ---- Evaluation -------------------------------------------------------------------

def evaluate(config, workdir, state, dataset, writer, references=None):
  """Scores the current state; process 0 writes eval.json, figures and summaries.

  references: evaluation.ClassReferences for the class-reading image metrics.
  """
  model = inference.TrainedModel(config, state)
  is_mixture = config.dataset == 'mixture'
  with_encoder = objectives.method_of(config) not in objectives.WITHOUT_ENCODER
  if is_mixture:
    metrics, arrays = evaluation.evaluate_mixture(
        model, dataset, num_samples=config.data.num_eval_samples, seed=config.seed,
        with_encoder=with_encoder)
  else:
    metrics, arrays = evaluation.evaluate_images(
        model, dataset, num_samples=config.data.num_eval_samples, seed=config.seed,
        with_encoder=with_encoder, references=references)
  metrics['step'] = model.step
  if jax.process_index() == 0:
    workdir_lib.write_text_atomically(os.path.join(workdir, EVAL_FILE),
                                      json.dumps(metrics, indent=2, sort_keys=True))
    save_fn = (evaluation.save_mixture_figures if is_mixture
               else evaluation.save_image_figures)
    figures = save_fn(os.path.join(workdir, IMAGE_DIR), arrays, step=model.step)
    for name, value in metrics.items():
      writer.add_scalar(f'eval/{name}', value, model.step)
    for figure in figures:
      name = os.path.splitext(os.path.basename(figure))[0]
      with Image.open(figure) as image:
        writer.add_image(f'eval/{name}', np.asarray(image.convert('RGB')), model.step,
                         dataformats='HWC')
    writer.flush()
  logging.info('Evaluation at step %d: %s', model.step,
               ', '.join(f'{k}={v:.4g}' for k, v in sorted(metrics.items())))
  return metrics


# ---- The run ----------------------------------------------------------------------

def _format_duration(seconds):
  minutes, seconds = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'


def _loss_summary(means):
  """'discriminator_loss 1.386 | generator_loss 0.693 | ...': the losses first."""
  shown = [k for k in means if k != 'nonfinite_update' and not k.startswith('grad_norm_')]
  shown.sort(key=lambda k: (not k.endswith(('_loss', '_objective')), k))
  return ' | '.join(f'{k} {means[k]:.3f}' for k in shown)


def _claim_workdir(config, workdir):
  """Checks that `workdir` can hold this run and records its config (process 0)."""
  if os.path.exists(os.path.join(workdir, inference.CONFIG_FILE)):
    workdir_lib.check_compatible(inference.load_config(workdir), config, workdir)
  elif os.path.isdir(checkpoints.checkpoint_dir(workdir)) and os.listdir(
      checkpoints.checkpoint_dir(workdir)):
    raise ValueError(f'{workdir} has checkpoints but no {inference.CONFIG_FILE}: it was not '
                     'written by ali_jax, or was damaged. Use a new --workdir.')
  inference.save_config(workdir, config)


def gan_phase_state(config, template_state):
  """The state that ends `config`'s GAN phase, restored from the finished `gan`
  run in config.method_options.gan_workdir (which is only read)."""
  gan_workdir = os.path.abspath(config.method_options.gan_workdir)
  phase_end = objectives.inference_phase_start(config)
  try:
    gan_config = inference.load_config(gan_workdir)
  except FileNotFoundError as error:
    raise FileNotFoundError(f'config.method_options.gan_workdir: {error}') from None
  workdir_lib.check_gan_phase_source(gan_config, config, gan_workdir, phase_end)
  manager = checkpoints.make_manager(gan_workdir, create=False)
  try:
    if phase_end not in manager.all_steps():
      raise ValueError(
          f'config.method_options.gan_workdir={gan_workdir} has no checkpoint at step '
          f'{phase_end}, where this run\'s GAN phase ends (it has '
          f'{sorted(manager.all_steps()) or "none"}): let that gan run finish first.')
    _, state, failures = checkpoints.restore_newest_readable(manager, template_state,
                                                             [phase_end])
  finally:
    manager.close()
  if state is None:
    raise RuntimeError(f'The checkpoint at step {phase_end} in {gan_workdir} does not '
                       f'restore ({failures[0][1]}); retrain that gan run, or set '
                       "config.method_options.gan_workdir='' to train the GAN phase here.")
  return state


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
  config_validation.check_config(config, device_count=jax.device_count())
  # Before the workdir is touched: a missing dataset (data.DatasetNotPrepared)
  # stops the run with nothing written.
  dataset = data.load(config)
  is_chief = jax.process_index() == 0
  with contextlib.ExitStack() as stack:
    if is_chief:
      os.makedirs(workdir, exist_ok=True)
      stack.enter_context(workdir_lib.WorkdirLock(workdir))
      _claim_workdir(config, workdir)
    if jax.process_count() > 1:  # the others start once process 0 has checked
      multihost_utils.sync_global_devices('ali_jax: workdir claimed')
    return _train(config, workdir, is_chief, dataset)


def _train(config, workdir, is_chief, dataset):
  # ---- Data, networks, state ------------------------------------------------------
  references = evaluation.class_references_for_run(config, dataset)
  networks = networks_lib.build_networks(
      config.model, data_shape=data.data_shape(config), axis_name=DEVICE_AXIS)
  initial_state = state_lib.create_train_state(config)  # also the restore template
  manager, state = checkpoints.restore_latest_intact(
      workdir, initial_state, max_to_keep=config.max_checkpoints_to_keep)
  if state is None and config.method_options.gan_workdir:
    state = gan_phase_state(config, initial_state)
    logging.info('Took the GAN phase (steps 0-%d) from %s.', int(state.step),
                 config.method_options.gan_workdir)
  elif state is None:
    state = initial_state
    if config.dataset in data.IMAGE_DATASETS:
      state = state_lib.with_output_bias_from(
          state, dataset.first_images(INITIAL_BIAS_IMAGES))
  else:
    logging.info('Resumed from the checkpoint at step %d in %s.', int(state.step),
                 checkpoints.checkpoint_dir(workdir))

  # ---- The update step ------------------------------------------------------------
  # The pmapped step returns the state replicated over this host's devices;
  # placing it there first lets the step donate it from the first call.
  state = replicate_on_local_devices(state)
  train_steps = {}  # phase -> its pmapped step, compiled when first needed

  def train_step_for(step):
    phase = objectives.phase(config, step)
    if phase not in train_steps:
      train_steps[phase] = make_pmapped_train_step(config, networks, phase)
    return train_steps[phase]

  # Post-hoc inference starts its second phase with a new joint D.
  fresh_discriminator_step = (objectives.inference_phase_start(config)
                              if objectives.method_of(config) == objectives.POST_HOC
                              else None)
  # The host runs ahead of the devices by at most this many steps (so it
  # prepares batches while they compute, without queueing batches without
  # bound). XLA:CPU can deadlock in its collective rendezvous when steps with
  # collectives across devices are queued back to back: there, wait for each.
  max_steps_in_flight = (1 if jax.default_backend() == 'cpu' and jax.device_count() > 1
                         else PREFETCH_BATCHES)

  # ---- The loop -------------------------------------------------------------------
  writer = tensorboardX.SummaryWriter(workdir) if is_chief else None
  watcher = preemption.PreemptionWatcher()
  start_step = int(jax.device_get(state.step))
  history, history_start = [], start_step  # device metrics of the steps since the last log
  timer_start, timer_step = None, start_step
  steps = range(start_step, config.num_train_steps)
  for step, batch in zip(steps, device_batches(dataset, config, steps)):
    if step == fresh_discriminator_step:
      logging.info('Step %d: the generator is frozen; training the encoder and a new '
                   'joint discriminator from here.', step)
      state = replicate_on_local_devices(state_lib.with_fresh_discriminator(state, config))
    state, metrics = train_step_for(step)(state, batch)
    history.append(metrics)
    if len(history) >= max_steps_in_flight:  # older steps were fetched when logged
      jax.block_until_ready(history[-max_steps_in_flight])
    if timer_start is None:  # the first step compiled; time from here
      timer_start, timer_step = time.time(), step + 1
    done = step + 1
    preempted = watcher.reached(done)
    log_now = done % config.log_every_steps == 0 or done == config.num_train_steps
    save_now = (done % config.checkpoint_every_steps == 0
                or done == config.num_train_steps or preempted)

    if log_now or save_now:  # never log or save a diverged state
      check_divergence(jax.device_get(history), history_start, config, workdir)
    if log_now:
      means = summarise(jax.device_get(history))
      history, history_start = [], done
      elapsed = time.time() - timer_start
      rate = (done - timer_step) / elapsed if elapsed > 0 else float('nan')
      eta = (config.num_train_steps - done) / rate if rate > 0 else 0
      skipped = (f' | {means["nonfinite_update"]:.0f} non-finite updates skipped'
                 if means['nonfinite_update'] else '')
      logging.info('step %d/%d | %s | %.1f steps/s | ETA %s%s', done,
                   config.num_train_steps, _loss_summary(means), rate,
                   _format_duration(eta), skipped)
      if is_chief:
        for name, value in means.items():
          writer.add_scalar(f'train/{name}', value, done)
        writer.add_scalar('train/steps_per_second', rate, done)
    if save_now:
      checkpoints.save(manager, state)
    if preempted:
      break
    if done % config.eval_every_steps == 0 and done != config.num_train_steps:
      evaluate(config, workdir, state, dataset, writer, references)

  # ---- The end --------------------------------------------------------------------
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
  metrics = evaluate(config, workdir, state, dataset, writer, references)
  if is_chief:
    writer.close()
    logging.info('Done. Metrics: %s  Figures: %s', os.path.join(workdir, EVAL_FILE),
                 os.path.join(workdir, IMAGE_DIR))
  return metrics
