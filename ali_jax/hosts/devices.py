"""Everything that knows about devices and hosts, in one place.

The train step is pmapped over this host's devices (the user asked for pmap on
TPU and GPU): its state goes in whole and comes out the same on every device,
its batch is split along a leading device axis. Batch norm and the step's
gradient averaging reduce over AXIS_NAME. With several hosts (a pod), each host
feeds its own share of the global batch and holds a full replica of the state.
"""
import collections

import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp

AXIS_NAME = 'batch'  # the pmap axis: the step's collectives and batch norm reduce over it
PREFETCH_BATCHES = 2  # batches on the devices ahead of the step that needs them


def is_chief():
  """Whether this process writes files, logs and summaries (process 0)."""
  return jax.process_index() == 0


def sync_hosts(name):
  """Waits until every host reaches this point (nothing to wait for on one host)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(f'ali_jax: {name}')


def assert_same_on_hosts(tree, message):
  """Raises unless every host holds the same values of `tree` (one host: nothing)."""
  if jax.process_count() > 1:
    multihost_utils.assert_equal(host_copy(tree), message)


def host_copy(tree):
  """A numpy copy of one local replica of each array in `tree`.

  A state that the pmapped step returned is replicated over every device of
  every host; one replica is all that inference (or a comparison) needs.
  """
  return jax.tree.map(lambda a: np.asarray(a.addressable_data(0))
                      if isinstance(a, jax.Array) else np.asarray(a), tree)


def step_of(state):
  """The state's step as a Python int, read from this host's replica."""
  return int(host_copy(state.step))


def on_one_device(tree):
  """One replica of `tree` on this host's first device: what jitted inference reads."""
  return jax.device_put(host_copy(tree), jax.local_devices()[0])


def _local_sharding(*partition):
  """A sharding over this host's devices along AXIS_NAME: () replicates,
  (AXIS_NAME,) splits the first axis (device i holding part i)."""
  return jax.sharding.NamedSharding(
      jax.sharding.Mesh(np.array(jax.local_devices()), (AXIS_NAME,)),
      jax.sharding.PartitionSpec(*partition))


def replicate(tree):
  """`tree` whole on every local device, as the pmapped step returns its state.

  Placing the state there before the first step lets that step donate it.
  """
  return jax.device_put(tree, _local_sharding())


def global_arrays(tree):
  """A state replicated on each host's devices, as arrays spanning every host.

  Orbax saves only global arrays when there are several hosts.
  """
  if jax.process_count() == 1:
    return tree
  return jax.tree.map(ocp.utils.fully_replicated_host_local_array_to_global_array, tree)


def split_for_devices(batch, num_devices):
  """(n, ...) -> (num_devices, n // num_devices, ...): the pmapped step's batch axis."""
  return jax.tree.map(lambda a: a.reshape((num_devices, -1) + a.shape[1:]), batch)


def device_batches(dataset, global_batch_size, steps):
  """This process's batch for each of `steps`, already split over the local devices.

  Batches are put on the devices PREFETCH_BATCHES steps ahead, so the host
  prepares the next batch while the devices run the current step. Split along
  their first axis, device i holding part i: the layout in which pmap takes its
  mapped arguments, so the step starts without moving data.
  """
  num_devices = jax.local_device_count()
  split = _local_sharding(AXIS_NAME)
  host_batches = dataset.batches(steps.start, global_batch_size=global_batch_size,
                                 process_index=jax.process_index(),
                                 process_count=jax.process_count())
  ready = collections.deque()
  for _, batch in zip(steps, host_batches):
    ready.append(jax.device_put(split_for_devices(batch, num_devices), split))
    if len(ready) > PREFETCH_BATCHES:
      yield ready.popleft()
  yield from ready


def pmap_step(train_step):
  """`train_step(state, batch)` pmapped over the local devices, as the trainer runs it.

  The state goes in unreplicated (in_axes None) and comes out the same on every
  device; it is donated, so its buffers are reused for the new state.
  """
  return jax.pmap(train_step, axis_name=AXIS_NAME, in_axes=(None, 0),
                  out_axes=(None, None), donate_argnums=(0,))


def max_steps_in_flight():
  """How far the host may run ahead of the devices, in steps.

  Ahead by PREFETCH_BATCHES, so batches are prepared while the devices compute,
  without queueing batches without bound. XLA:CPU can deadlock in its
  collective rendezvous when steps with collectives across devices are queued
  back to back: there, wait for each step.
  """
  if jax.default_backend() == 'cpu' and jax.device_count() > 1:
    return 1
  return PREFETCH_BATCHES
