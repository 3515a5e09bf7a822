"""Checkpoints written before the package moved into sub-packages (issue 42) still restore.

tests/fixtures/checkpoint_42b6348/ was made by tests/fixtures/make_checkpoint_fixture.py at commit
42b6348, the last commit of the flat layout: a 12-step configs/mixture_tiny.py checkpoint
and what ali_jax.load gave for fixed inputs then, with the step-0 state's names and shapes
for every config.
"""
import json
import os
import shutil
import sys

import numpy as np
import pytest

import ali_jax
from tests import helpers

FIXTURE = os.path.join(helpers.REPO, 'tests', 'fixtures', 'checkpoint_42b6348')
sys.path.insert(0, os.path.join(helpers.REPO, 'tests', 'fixtures'))
import make_checkpoint_fixture  # noqa: E402  (tests/fixtures is not a package)


@pytest.fixture(scope='module')
def expected():
  with open(os.path.join(FIXTURE, 'expected.json')) as f:
    return json.load(f)


def test_a_checkpoint_from_before_the_move_restores_with_its_values(tmp_path, expected):
  workdir = tmp_path / 'workdir'
  shutil.copytree(os.path.join(FIXTURE, 'workdir'), workdir)  # load must not touch the fixture
  model = ali_jax.load(workdir)
  rng = np.random.default_rng(expected['inputs_seed'])
  x = rng.normal(size=(8, 2)).astype(np.float32)
  z = rng.normal(size=(8, model.latent_dim)).astype(np.float32)
  np.testing.assert_allclose(model.encode(x, seed=0), expected['encode'], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(model.decode(z), expected['decode'], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('config_file', sorted(json.load(open(
    os.path.join(FIXTURE, 'expected.json')))['state_names']))
def test_every_config_keeps_its_parameter_names_and_shapes(config_file, expected):
  config = make_checkpoint_fixture._config(os.path.join(helpers.REPO, 'configs', config_file))
  assert make_checkpoint_fixture.state_names(config) == expected['state_names'][config_file]
