"""train_and_evaluate(config, workdir): the ALI/BiGAN training loop.

Order of a run: check the config (before anything compiles), find the data,
lock the workdir and check that it holds no run of an incompatible config,
build the run's parts once (run_setup.RunSetup), restore the newest intact
checkpoint if there is one (automatic resume), then for each phase of the
method: start it (phase_starts.py), loop step -> metrics -> (log, checkpoint,
evaluate) to its end; evaluate once more at the end of the run.
"""
import contextlib
import json
import time

from absl import logging
import jax
import numpy as np

from ali_jax import data
from ali_jax import losses as losses_lib
from ali_jax.config import validation
from ali_jax.evaluation import evaluator
from ali_jax.evaluation import figures
from ali_jax.hosts import devices
from ali_jax.hosts import memory
from ali_jax.hosts import preemption
from ali_jax.runs import checkpoints
from ali_jax.runs import provenance
from ali_jax.runs import summaries as summaries_lib
from ali_jax.runs import workdir as workdir_lib
from ali_jax.settings import choices
from ali_jax.settings import datasets
from ali_jax.training import phase_starts
from ali_jax.training import run_setup
from ali_jax.training import standing_statistics
from ali_jax.training import state as state_lib
from ali_jax.training import trained_model

INITIAL_BIAS_IMAGES = 500  # the paper sets the generator's output bias from 500 images


# ---- Divergence -------------------------------------------------------------------

def _what_is_not_finite(metrics):
  losses = [k for k in sorted(metrics) if not k.startswith('grad_norm_')
            and not k.endswith('_confidence') and k != 'nonfinite_update'
            and k not in losses_lib.DIAGNOSTICS and not np.isfinite(metrics[k])]
  networks = [n for n in choices.NETWORK_NAMES
              if not np.isfinite(metrics.get(f'grad_norm_{n}', 0.0))]
  parts = [f'non-finite {", ".join(losses)}'] if losses else []
  if networks:
    parts.append(f'non-finite gradients in the {", ".join(networks)}')
  return '; '.join(parts) or 'a non-finite metric'


def check_divergence(history, first_step, nonfinite, workdir):
  """Raises FloatingPointError on the first non-finite step of `history` (host metrics).

  history[i] holds the metrics of step first_step + i + 1 (steps count updates
  done). With nonfinite='skip' (config.nonfinite), skipped steps are allowed unless
  every step of `history` was skipped: the run would then make no progress at all.
  """
  bad = [i for i, m in enumerate(history) if m['nonfinite_update'] > 0]
  if not bad or (nonfinite == 'skip' and len(bad) < len(history)):
    return
  step = first_step + bad[0] + 1
  advice = ('The checkpoints in {} are from before it and were kept. Lower '
            'config.optimizer.learning_rate, or set config.nonfinite=skip to skip such '
            'updates.').format(workdir_lib.checkpoint_dir(workdir))
  if nonfinite == 'skip':
    raise FloatingPointError(
        f'Every update of steps {first_step + 1}..{first_step + len(history)} was skipped '
        f'as non-finite ({_what_is_not_finite(history[0])}). {advice}')
  raise FloatingPointError(
      f'Training diverged at step {step}: {_what_is_not_finite(history[bad[0]])}. {advice}')


# A key of the pairing diagnostic: a logging window whose steps have it has had its one.
PAIRING_KEY = 'pairing_accuracy'


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

def evaluate(run, workdir, state, dataset, summaries, references=None, *, final=False):
  """Scores the current state; process 0 writes the metrics, figures and summaries.

  Evaluations during training read the validation split (eval_validation.json);
  the final one reads config.data.final_split (eval.json): the test split, read once,
  unless the run is one of a sweep that chooses on validation.
  run: the run_setup.RunSetup (its compiled inference functions are reused).
  references: {split: ClassReferences (evaluation/metrics.py)} for the class-reading image metrics.
  Encoder metrics are left out until some phase has trained the encoder.
  """
  settings = run.settings
  split = settings.evaluation.final_split if final else datasets.VALIDATION
  logging.info('Evaluating at step %d on the %s split.', devices.step_of(state), split)
  model = trained_model.TrainedModel(run, state,
                                     standing_statistics.standing_batches(settings, dataset))
  is_mixture = settings.dataset == datasets.MIXTURE
  with_encoder = model.encoder_trained
  if is_mixture:
    metrics, arrays = evaluator.evaluate_mixture(
        model, dataset.heldout(split), num_samples=settings.evaluation.num_eval_samples,
        seed=settings.seed, with_encoder=with_encoder)
  else:
    metrics, arrays = evaluator.evaluate_images(
        model, dataset.heldout(split), num_samples=settings.evaluation.num_eval_samples,
        seed=settings.seed, with_encoder=with_encoder,
        references=None if references is None else references[split])
  metrics['step'] = model.step
  if devices.is_chief():
    workdir_lib.save_eval(workdir, metrics, workdir_lib.EVAL_FILE if final
                          else workdir_lib.VALIDATION_EVAL_FILE)
    workdir_lib.add_to_eval_history(workdir, metrics, split)
    pngs = (figures.mixture_figures if is_mixture
            else figures.image_figures)(arrays, step=model.step)
    workdir_lib.save_figures(workdir, pngs)
    summaries.scalars(split, metrics, model.step)
    summaries.png_images(split, pngs, model.step)
    summaries.flush(force=True)
  logging.info('Evaluation at step %d on the %s split: %s', model.step, split,
               ', '.join(f'{k}={_format_number(v)}' for k, v in sorted(metrics.items())))
  return metrics


def _format_number(value):
  """4 significant digits; whole numbers (steps, counts) in full."""
  whole = float(value).is_integer() and abs(value) < 1e15  # not a huge float's digits
  return f'{int(value):d}' if whole else f'{value:.4g}'


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
  workdir_lib.check_can_hold(config, workdir)
  workdir_lib.save_config(workdir, config)


def train_and_evaluate(config, workdir, command=None):
  """Trains as `config` says, in `workdir`; returns the final evaluation metrics.

  On SIGTERM (how pods and clusters preempt a job) it saves a checkpoint at the
  current step and returns None; the same call later continues from there.
  workdir: a local path or a gs:// URL (ali_jax/runs/workdir.py).
  command: how the run was started, for its record.json (main.py passes its command
  line; None records that it was called from Python).
  """
  session = _Session(command or 'trainer.train_and_evaluate called from Python', config)
  workdir = str(workdir_lib.path(workdir))
  validation.check_config(config, device_count=jax.device_count())
  # Before the workdir is touched: a missing dataset (mistakes.DatasetNotPrepared)
  # stops the run with nothing written.
  dataset = data.load_dataset(config)
  with contextlib.ExitStack() as stack:
    lock = None
    if devices.is_chief():
      workdir_lib.path(workdir).mkdir(parents=True, exist_ok=True)
      lock = stack.enter_context(
          workdir_lib.lock(workdir, stale_after_s=config.workdir_lock_stale_s))
      _claim_workdir(config, workdir)
    devices.sync_hosts('workdir claimed')  # the others start once process 0 has checked
    return _train(run_setup.RunSetup(config), workdir, dataset, lock, session)


def _start_or_resume(run, workdir, dataset):
  """(checkpoint manager, state): the newest intact checkpoint, or step 0."""
  # Each layer's initialiser compiles on first use: tens of seconds on a CPU.
  logging.info('Initialising the networks and their optimizers.')
  initial_state = state_lib.create_train_state(run)  # also the restore template
  manager, state = checkpoints.restore_latest_intact(
      workdir, initial_state, max_to_keep=run.settings.loop.max_checkpoints_to_keep)
  if state is not None:
    logging.info('Resumed from the checkpoint at step %d in %s.', int(state.step),
                 workdir_lib.checkpoint_dir(workdir))
    return manager, state
  if run.is_images:
    initial_state = state_lib.with_output_bias_from(
        initial_state, dataset.first_images(INITIAL_BIAS_IMAGES))
  return manager, initial_state


def _start_phases(run, state):
  """`state` after the start of each phase that begins at its step.

  A phase taken from elsewhere (a finished gan run's GAN phase) moves the
  state to its end, where the next phase may begin in turn. On resume, a
  checkpoint saved exactly at a phase's start is from before that start.
  """
  for phase in run.phases:
    step = devices.step_of(state)
    if phase.start == step and phase.num_steps:
      state = phase_starts.start_phase(phase, state, run)
      if devices.step_of(state) != step:
        logging.info('Took the %s phase (steps %d-%d) from %s.', phase.name, step,
                     phase.end, run.settings.loop.gan_workdir)
      elif len(run.phases) > 1:
        logging.info('Step %d: the %s phase starts; it trains the %s.', step, phase.name,
                     ', '.join(phase.trains))
  return state


class _Session:
  """This invocation of a run, as its record.json (provenance.run_record) lists it."""

  def __init__(self, command, config):
    self.command = command
    self.config = json.loads(config.to_json_best_effort())  # as record.json lists it
    self.started, self._start_time = provenance.now(), time.time()
    self.first_step = None

  def save(self, workdir, last_step, metrics):
    """Adds this session to the workdir's record.json (process 0 only)."""
    numbers = None if metrics is None else {k: float(v) for k, v in metrics.items()}
    session = dict(started=self.started, wall_s=round(time.time() - self._start_time, 1),
                   steps=[self.first_step, last_step],
                   devices=f'{jax.device_count()} x {jax.devices()[0].device_kind}',
                   processes=jax.process_count())
    workdir_lib.save_record(workdir, provenance.run_record(
        workdir_lib.load_record(workdir), command=self.command,
        config=self.config, session=session, numbers=numbers))


def _train(run, workdir, dataset, lock, session):
  """The loop; `lock` (process 0's) is checked before each checkpoint."""
  settings, loop = run.settings, run.settings.loop
  is_chief = devices.is_chief()
  references = evaluator.class_references_for_run(settings, dataset)
  manager, state = _start_or_resume(run, workdir, dataset)
  session.first_step = devices.step_of(state)
  # Creating the state compiled an executable per initialiser op that no step
  # uses: drop them all (anything else recompiles when next called).
  memory.release(drop_compiled=True)
  host_limit = devices.max_steps_in_flight()

  summaries = summaries_lib.Summaries(workdir) if is_chief else None
  watcher = preemption.PreemptionWatcher()
  history, history_start = [], devices.step_of(state)  # device metrics since the last log
  timer_start, timer_step = None, history_start
  preempted = False
  while not preempted:
    # The pmapped step returns the state replicated over this host's devices;
    # placing it there first lets the step donate it from the first call.
    state = devices.replicate(_start_phases(run, state))
    first = devices.step_of(state)
    if first >= settings.num_train_steps:
      break
    phase = run.phase_at(first)
    # The pairing diagnostic (one more D call) on one step of each logging window: the step
    # built with it while the window has none yet (its first step, or a phase's first),
    # the one without it after. A phase whose D judges no encoder pairs uses only the first.
    train_steps = {pairing: run.pmapped_train_step(phase, pairing) for pairing in (True, False)}
    compiled = set()
    steps = range(first, phase.end)
    for step, batch in zip(steps, devices.device_batches(dataset, settings.batch_size, steps)):
      pairing = not any(PAIRING_KEY in m for m in history)
      compile_start = None
      if pairing not in compiled:
        # Its first call compiles it (tens of seconds on a CPU): say so, or the run looks hung.
        logging.info('Compiling the train step of the %s phase%s (step %d waits for it).',
                     phase.name, '' if pairing else ' without the pairing diagnostic',
                     step + 1)
        compile_start = time.time()
      state, metrics = train_steps[pairing](state, batch)
      history.append(metrics)
      if len(history) >= host_limit:  # older steps were fetched when logged
        jax.block_until_ready(history[-host_limit])
      if compile_start is not None:
        jax.block_until_ready(metrics)
        compiled.add(pairing)
        logging.info('Compiled and took the step in %.0f s; a progress line every %d steps.',
                     time.time() - compile_start, loop.log_every_steps)
        memory.release()  # the compiler's freed working memory
        timer_start, timer_step = time.time(), step + 1  # speed: from the last compile on
      done = step + 1
      preempted = watcher.reached(done)
      log_now = done % loop.log_every_steps == 0 or done == settings.num_train_steps
      save_now = (done % loop.checkpoint_every_steps == 0
                  or done == settings.num_train_steps or preempted)

      if log_now or save_now:  # never log or save a diverged state
        check_divergence(jax.device_get(history), history_start, settings.nonfinite, workdir)
      if log_now:
        means = summarise(jax.device_get(history))
        history, history_start = [], done
        elapsed = time.time() - timer_start
        rate = (done - timer_step) / elapsed if elapsed > 0 else float('nan')
        eta = (settings.num_train_steps - done) / rate if rate > 0 else 0
        skipped = (f' | {means["nonfinite_update"]:.0f} non-finite updates skipped'
                   if means['nonfinite_update'] else '')
        logging.info('step %d/%d | %s | %.1f steps/s | ETA %s%s', done,
                     settings.num_train_steps, _loss_summary(means), rate,
                     _format_duration(eta), skipped)
        if is_chief:
          summaries.scalars('train', {**means, 'steps_per_second': rate}, done)
          summaries.flush()  # in a bucket: uploaded at most once a minute
      if save_now:
        if lock is not None:
          lock.check_held()
        checkpoints.save(manager, state, timeout_s=loop.checkpoint_write_timeout_s)
      if preempted:
        break
      if done % loop.eval_every_steps == 0 and done != settings.num_train_steps:
        evaluate(run, workdir, state, dataset, summaries, references)

  watcher.close()
  checkpoints.wait_for_writes(manager, loop.checkpoint_write_timeout_s)
  manager.close()
  # Every host must end with the same parameters; a silent divergence
  # between hosts would corrupt everything that follows.
  devices.assert_same_on_hosts((state.encoder.params, state.generator.params,
                                state.discriminator.params),
                               'The hosts ended with different parameters.')
  final_step = devices.step_of(state)
  if final_step < settings.num_train_steps:
    logging.warning('Preempted: saved a checkpoint at step %d in %s; run the same '
                    'command again to continue.', final_step,
                    workdir_lib.checkpoint_dir(workdir))
    if is_chief:
      summaries.close()
      session.save(workdir, final_step, None)
    return None
  metrics = evaluate(run, workdir, state, dataset, summaries, references, final=True)
  if is_chief:
    summaries.close()
    session.save(workdir, final_step, metrics)
    logging.info('Done. Metrics: %s  Figures: %s',
                 workdir_lib.path(workdir) / workdir_lib.EVAL_FILE,
                 workdir_lib.path(workdir) / workdir_lib.IMAGE_DIR)
  return metrics
