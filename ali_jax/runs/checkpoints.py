"""Orbax checkpoints of the TrainState under <workdir>/checkpoints.

A run killed mid-write leaves no checkpoint that looks finished: on disk orbax
writes each checkpoint to a temporary directory and renames it when complete;
in a bucket, which has no rename, it writes a commit marker last and counts
only checkpoints that have one.
"""
import re
import time

from absl import logging
import jax
import orbax.checkpoint as ocp

from ali_jax.hosts import devices
from ali_jax.runs import workdir as workdir_lib


def make_manager(workdir, *, max_to_keep=None, create=True):
  return ocp.CheckpointManager(
      workdir_lib.checkpoint_dir(workdir),
      options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=create))


class CheckpointWriteFailed(RuntimeError):
  """A checkpoint write failed, or did not finish in time: the storage is unreachable."""


_KEPT = ('The checkpoints completed before it are kept: run the same command again once the '
         'storage is reachable.')


def wait_for_writes(manager, timeout_s):
  """Waits for the checkpoint being written; CheckpointWriteFailed if it fails or
  is still unfinished after `timeout_s`.

  orbax's own wait has no limit, and its writes retry for many minutes when the
  storage is unreachable (tensorstore's GCS retries), which would hang the run.
  """
  deadline = time.monotonic() + timeout_s
  while manager.is_saving_in_progress():
    if time.monotonic() > deadline:
      raise CheckpointWriteFailed(
          f'A checkpoint in {manager.directory} has not finished writing after '
          f'{timeout_s:.0f} s (config.checkpoint_write_timeout_s): the storage is unreachable '
          f'or too slow. {_KEPT}')
    time.sleep(0.1)
  try:
    manager.wait_until_finished()  # raises what a failed write raised
  except Exception as error:  # pylint: disable=broad-except  (orbax, tensorstore, gcsfs...)
    raise _write_failed(manager, error) from error


def _write_failed(manager, error):
  return CheckpointWriteFailed(
      f'Writing a checkpoint in {manager.directory} failed ({type(error).__name__}: '
      f'{str(error)[:300]}). {_KEPT}')


def save(manager, state, *, timeout_s):
  """Saves `state` at its own step (asynchronously; the host copy is made now),
  once the previous write has finished (see wait_for_writes).

  Every process must call this.
  """
  wait_for_writes(manager, timeout_s)
  state = devices.global_arrays(state)
  try:
    manager.save(devices.step_of(state),
                 args=ocp.args.Composite(state=ocp.args.StandardSave(state)))
  except Exception as error:  # pylint: disable=broad-except  (the storage: gcsfs, tensorstore)
    raise _write_failed(manager, error) from error


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


def _gist(error):
  """The first line of an error, without the storage specs (JSON) that tensorstore adds."""
  lines = str(error).strip().splitlines() or ['']
  return re.sub(r'\{.*\}', '{...}', lines[0])[:300]


def restore_newest_readable(manager, template_state, steps):
  """(step, state, failures) for the newest of `steps` that restores.

  failures lists (step, error) for each newer checkpoint that did not restore;
  step and state are None if none did.
  """
  failures = []
  for step in sorted(steps, reverse=True):
    try:
      return step, restore(manager, template_state, step), failures
    except Exception as error:  # pylint: disable=broad-except  (orbax, tensorstore, json...)
      failures.append((step, f'{type(error).__name__}: {_gist(error)}'))
      logging.warning('The checkpoint at step %d in %s does not restore: %s', step,
                      manager.directory, failures[-1][1])
  return None, None, failures


def restore_latest_intact(workdir, template_state, *, max_to_keep):
  """(manager, state) from the newest checkpoint that restores; state None if none exist.

  A newer checkpoint that does not restore (truncated or corrupted files) is
  reported and moved to <workdir>/corrupt_checkpoints/ (kept for inspection,
  out of the way of new saves), and the one before it is used. If no
  checkpoint restores, nothing is moved and the run stops: that is more likely
  a changed model than corruption, and starting over would hide it.
  """
  manager = make_manager(workdir, max_to_keep=max_to_keep)
  _, state, failures = restore_newest_readable(manager, template_state, manager.all_steps())
  if failures and state is None:
    manager.close()
    raise RuntimeError(
        f'None of the checkpoints in {workdir_lib.checkpoint_dir(workdir)} restores (newest, step '
        f'{failures[0][0]}: {failures[0][1]}). If the model or the code changed, use the '
        'version that wrote them or a new --workdir; nothing was deleted.')
  if failures:
    manager.close()
    _move_aside(workdir, [failed_step for failed_step, _ in failures])
    manager = make_manager(workdir, max_to_keep=max_to_keep)
  return manager, state


def _move_aside(workdir, steps):
  """Moves unreadable checkpoints to <workdir>/corrupt_checkpoints/ (process 0 moves)."""
  if devices.is_chief():
    for step in steps:
      destination = workdir_lib.move_checkpoint_aside(workdir, step)
      logging.warning('Moved the unreadable checkpoint at step %d to %s.', step, destination)
  devices.sync_hosts('unreadable checkpoints moved aside')
