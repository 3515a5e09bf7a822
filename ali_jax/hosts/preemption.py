"""Stopping at a step that every process agrees on when the job is preempted.

Pods and clusters preempt a job with SIGTERM. With several processes, JAX's
preemption service (set up by jax.distributed.initialize) catches the signal on
any host and agrees with the others on a step at which all of them stop; with
one process, a SIGTERM handler sets a flag that the loop reads after each step.
"""
import signal
import threading

import jax
from jax.experimental import multihost_utils


class PreemptionWatcher:
  """Call `reached(step)` after every step (on every process); True means stop now."""

  def __init__(self):
    self._multi_process = jax.process_count() > 1
    self._signalled = False
    self._previous_handler = None
    # Signal handlers can only be set from the main thread; elsewhere (a
    # notebook's worker thread, say) a single-process run is not preemptible.
    if not self._multi_process and threading.current_thread() is threading.main_thread():
      self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)

  def _on_sigterm(self, signum, frame):
    del signum, frame
    self._signalled = True

  def reached(self, step):
    if self._multi_process:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._signalled

  def close(self):
    if self._previous_handler is not None:
      signal.signal(signal.SIGTERM, self._previous_handler)
      self._previous_handler = None
