"""Tests run on 4 forced CPU devices, so the pmapped paths are exercised.

Compiled programs are cached on disk for the whole test session: most of the
suite's time is XLA compiling, and many tests compile the same step again in
another process (a run, then the same run killed and resumed, on two hosts...).
The cache is a fresh folder per session (its entries are native code for this
machine), shared by the xdist workers and every subprocess through the
environment, and deleted by the process that made it.
"""
import atexit
import os
import shutil
import tempfile

if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:  # workers inherit the controller's
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='ali_jax_tests_xla_')
  atexit.register(shutil.rmtree, os.environ['JAX_COMPILATION_CACHE_DIR'], ignore_errors=True)
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0'  # every program
  os.environ['JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES'] = '-1'
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4')
# XLA with most optimisation passes off: the tests' programs are compiled once and run for a
# few steps on tiny batches, so compiling is most of their time; this cut a conv-net test's
# time by a quarter to two fifths. Every process of the suite (workers and the runs they start)
# inherits it, so runs compared bit for bit are compiled alike. main.py does not set it.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
from ali_jax.hosts import xla_flags  # pylint: disable=g-import-not-at-top,wrong-import-position
xla_flags.set_flags()  # the flags main.py runs with
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from configs import mixture_tiny  # pylint: disable=g-import-not-at-top,wrong-import-position
from tests import helpers  # pylint: disable=g-import-not-at-top,wrong-import-position

NUM_DEVICES = 4


@pytest.fixture(autouse=True)
def _waits_end_before_the_test_timeout(request):
  """helpers' waits stop short of pytest-timeout's limit for this test, so a test whose
  run hangs fails with its own message and kills its processes in its `finally`."""
  marker = request.node.get_closest_marker('timeout')
  limit_s = float(marker.args[0] if marker else request.config.getini('timeout') or 0)
  helpers.set_test_deadline(limit_s)
  yield
  helpers.set_test_deadline(0)


@pytest.fixture
def tiny_config():
  return mixture_tiny.get_config()
