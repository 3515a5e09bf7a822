"""A trained model for inference: load(workdir) -> encode / decode / sample / reconstruct."""
from ali_jax.runs import checkpoints
from ali_jax.runs import workdir as workdir_lib
from ali_jax.training import run_setup
from ali_jax.training import standing_statistics
from ali_jax.training import state as state_lib
from ali_jax.training import trained_model

# The names users import from here (the model's class lives with the training code,
# which evaluates through it).
TrainedModel = trained_model.TrainedModel
PAPER_FEATURE_LAYERS = trained_model.PAPER_FEATURE_LAYERS


def load(workdir, step=None):
  """The model trained in `workdir`, at its newest readable checkpoint (or at `step`)."""
  workdir = str(workdir_lib.path(workdir))  # a local path or a gs:// URL
  config = workdir_lib.load_config(workdir)
  run = run_setup.RunSetup(config)
  manager = checkpoints.make_manager(workdir, create=False)
  try:
    steps = manager.all_steps()
    if not steps:
      raise FileNotFoundError(f'{workdir} has no checkpoint yet; train (or wait for the '
                              'first checkpoint) first.')
    if step is not None and step not in steps:
      raise ValueError(f'{workdir} has no checkpoint at step {step}; it has {sorted(steps)}.')
    template = state_lib.create_train_state(run)
    _, state, failures = checkpoints.restore_newest_readable(
        manager, template, [step] if step is not None else steps)
    if state is None:
      raise RuntimeError(f'No checkpoint in {workdir} restores (step {failures[0][0]}: '
                         f'{failures[0][1]}).')
  finally:
    manager.close()
  return trained_model.TrainedModel(
      run, state, standing_batches=standing_statistics.standing_batches(run.settings))
