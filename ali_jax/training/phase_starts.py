"""What a phase does when it starts (methods.Phase.on_start), applied by the trainer.

  FRESH_DISCRIMINATOR  post-hoc inference: a newly initialised joint D and its
                       optimizer state, trained against the frozen generator.
  GAN_STATE_FROM_RUN   a two-phase method's GAN phase: if
                       config.method_options.gan_workdir names a finished `gan`
                       run with the same settings, its final state (at the end
                       of this GAN phase) is taken instead of training it again.
"""

from ali_jax.runs import checkpoints
from ali_jax.runs import workdir as workdir_lib
from ali_jax.training import methods
from ali_jax.training import state as state_lib


def start_phase(phase, state, run):
  """`state` as `phase` (of `run`, a RunSetup) begins; it may end later than
  phase.start when the phase is taken from elsewhere."""
  if phase.on_start == methods.FRESH_DISCRIMINATOR:
    return state_lib.with_fresh_discriminator(state, run)
  if phase.on_start == methods.GAN_STATE_FROM_RUN:
    if not run.settings.loop.gan_workdir:
      return state  # the GAN phase is trained here
    return gan_phase_state(run, phase, state)
  if phase.on_start is None:
    return state
  raise ValueError(f'Unknown start of phase {phase.name!r}: {phase.on_start!r}.')


def gan_phase_state(run, phase, template_state):
  """The state that ends `phase` (a GAN phase), restored from the finished `gan`
  run in config.method_options.gan_workdir (which is only read)."""
  gan_workdir = str(workdir_lib.path(run.settings.loop.gan_workdir))
  workdir_lib.check_gan_phase_source(gan_workdir, run.config, phase.end)
  manager = checkpoints.make_manager(gan_workdir, create=False)
  try:
    if phase.end not in manager.all_steps():
      raise ValueError(
          f'config.method_options.gan_workdir={gan_workdir} has no checkpoint at step '
          f'{phase.end}, where this run\'s GAN phase ends (it has '
          f'{sorted(manager.all_steps()) or "none"}): let that gan run finish first.')
    _, state, failures = checkpoints.restore_newest_readable(manager, template_state,
                                                             [phase.end])
  finally:
    manager.close()
  if state is None:
    raise RuntimeError(f'The checkpoint at step {phase.end} in {gan_workdir} does not '
                       f'restore ({failures[0][1]}); retrain that gan run, or set '
                       "config.method_options.gan_workdir='' to train the GAN phase here.")
  return state
