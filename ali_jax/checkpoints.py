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
  """Saves `state` at its own step (asynchronously; the host copy is made now)."""
  manager.save(int(jax.device_get(state.step)),
               args=ocp.args.Composite(state=ocp.args.StandardSave(state)))


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
