"""Tests run on 4 forced CPU devices, so the pmapped paths are exercised."""
import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4')
from ali_jax import xla_flags  # pylint: disable=g-import-not-at-top,wrong-import-position
xla_flags.set_flags()  # the flags main.py runs with
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from configs import mixture_tiny  # pylint: disable=g-import-not-at-top,wrong-import-position

NUM_DEVICES = 4


@pytest.fixture
def tiny_config():
  return mixture_tiny.get_config()
