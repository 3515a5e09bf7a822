"""Orbax checkpoints of the TrainState under <workdir>/checkpoints."""
import os

import jax
import orbax.checkpoint as ocp


def checkpoint_dir(workdir):
  return os.path.join(os.path.abspath(workdir), 'checkpoints')


def make_manager(workdir, *, max_to_keep=None, create=True):
  return ocp.CheckpointManager(
      checkpoint_dir(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create))


def save(manager, state):
  """Saves `state` at its own step (asynchronously; the host copy is made now).

  Every process must call this. The pmapped step leaves the state replicated
  over each host's own devices; with several hosts orbax needs global arrays.
  """
  if jax.process_count() > 1:
    state = jax.tree.map(ocp.utils.fully_replicated_host_local_array_to_global_array,
                         state)
  manager.save(int(_host_step(state)),
               args=ocp.args.Composite(state=ocp.args.StandardSave(state)))


def _host_step(state):
  """The state's step, read from this host's replica."""
  return jax.device_get(state.step.addressable_data(0))


def restore(manager, template_state, step=None):
  """The state saved at `step` (default: the latest), shaped like `template_state`.

  Restoring into a template keeps optax's named tuples (without one they come
  back as lists).
  """
  step = manager.latest_step() if step is None else step
  target = jax.tree.map(ocp.utils.to_shape_dtype_struct, template_state)
  restored = manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
  return restored.state
