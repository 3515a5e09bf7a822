"""Workdir safety: incompatible configs, concurrent runs, corrupt checkpoints, inference errors."""
import json
import os
import signal
import shutil

import jax
import numpy as np
import pytest

import ali_jax
from ali_jax.training import trainer
from configs import mixture_tiny
from tests import helpers


def _constant_rate(config):
  """A resumed, longer run then continues exactly the schedule of the first (cosine decay
  would stretch to the new length)."""
  config.optimizer.schedule = 'constant'
  return config


@pytest.fixture(scope='module')
def trained_once(tmp_path_factory):
  """The finished tiny run, trained once per module (per xdist worker): most tests damage
  their run, so each gets a copy (`trained`)."""
  workdir = tmp_path_factory.mktemp('trained_once')
  trainer.train_and_evaluate(_constant_rate(mixture_tiny.get_config()), str(workdir))
  return workdir


@pytest.fixture
def trained(trained_once, tmp_path_factory, tiny_config):
  """A copy of a finished tiny run with checkpoints at 4, 8 and 12, whose config is
  tiny_config's (with which the tests go on)."""
  _constant_rate(tiny_config)
  workdir = tmp_path_factory.mktemp('trained')
  shutil.copytree(trained_once, workdir, dirs_exist_ok=True)
  return workdir


def test_incompatible_config_refuses_and_changes_nothing(trained, tiny_config):
  before = {p: (trained / p).read_bytes() for p in ('config.json', 'eval.json')}
  tiny_config.model.generator_hidden = (64, 64)
  tiny_config.optimizer.b1 = 0.5
  with pytest.raises(ValueError, match=r"different config \(config.model.generator_hidden: "
                                       r"\[32, 32\] in the workdir, \[64, 64\] now; "
                                       r"config.optimizer.b1: 0.8 in the workdir, 0.5 now\)"):
    trainer.train_and_evaluate(tiny_config, str(trained))
  assert {p: (trained / p).read_bytes() for p in before} == before
  assert sorted(os.listdir(trained / 'checkpoints')) == ['12', '4', '8']


def test_resumable_fields_may_change(trained, tiny_config):
  tiny_config.num_train_steps = 16
  tiny_config.log_every_steps = 8
  assert trainer.train_and_evaluate(tiny_config, str(trained))['step'] == 16


def test_a_run_from_before_later_fields_loads_and_resumes(trained, tiny_config):
  """A config.json written before fields were added reads as what the run had."""
  saved = json.loads((trained / 'config.json').read_text())
  del saved['method'], saved['method_options'], saved['model']['dtype']
  del saved['optimizer']['discriminator_learning_rate_scale']
  (trained / 'config.json').write_text(json.dumps(saved))
  model = ali_jax.load(str(trained))
  assert model.config.method == 'ali' and model.config.model.dtype == 'float32'
  assert model.config.method_options.inference_steps == 0
  assert model.config.optimizer.discriminator_learning_rate_scale == 1.0
  tiny_config.num_train_steps = 16
  assert trainer.train_and_evaluate(tiny_config, str(trained))['step'] == 16
  tiny_config.model.encoder = 'deterministic'
  tiny_config.method = 'bigan'  # ... and the old run was not a BiGAN
  with pytest.raises(ValueError, match="config.method: 'ali' in the workdir, 'bigan' now"):
    trainer.train_and_evaluate(tiny_config, str(trained))


def test_checkpoints_without_config_are_not_taken_over(trained, tiny_config):
  (trained / 'config.json').unlink()
  with pytest.raises(ValueError, match='has checkpoints but no config.json'):
    trainer.train_and_evaluate(tiny_config, str(trained))


def test_second_run_on_a_busy_workdir_is_refused(tmp_path, tiny_config):
  workdir = tmp_path / 'busy'
  process = helpers.launch_main(workdir, tmp_path / 'run.log', '--config.num_train_steps=100000',
                                '--config.log_every_steps=10',
                                '--config.checkpoint_every_steps=100000')
  try:
    assert helpers.wait_until(helpers.log_contains(tmp_path / 'run.log', 'step 10/'),
                              process, timeout=120)
    with pytest.raises(RuntimeError, match=f'Another run \\(process {process.pid}\\) is using'):
      trainer.train_and_evaluate(tiny_config, str(workdir))
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  # The kernel released the killed run's lock: the workdir is usable again.
  tiny_config.num_train_steps = 16
  assert trainer.train_and_evaluate(tiny_config, str(workdir))['step'] == 16


def _truncate_newest(workdir, step):
  data_files = [os.path.join(root, name)
                for root, _, names in os.walk(workdir / 'checkpoints' / str(step))
                for name in names if os.sep + 'd' + os.sep in os.path.join(root, name)]
  for path in data_files:
    with open(path, 'r+b') as f:
      f.truncate(os.path.getsize(path) // 2)


def test_truncated_newest_checkpoint_is_skipped_and_kept_aside(tmp_path, trained,
                                                               tiny_config):
  _truncate_newest(trained, 12)
  tiny_config.num_train_steps = 16
  metrics = trainer.train_and_evaluate(tiny_config, str(trained))  # resumes from 8
  assert metrics['step'] == 16
  corrupt = os.listdir(trained / 'corrupt_checkpoints')
  assert len(corrupt) == 1 and corrupt[0].startswith('12-')
  assert sorted(os.listdir(trained / 'checkpoints'), key=int) == ['8', '12', '16']
  # Continuing from step 8 lost nothing: it ends where an uninterrupted run ends.
  trainer.train_and_evaluate(tiny_config, str(tmp_path / 'uninterrupted'))
  jax.tree.map(np.testing.assert_array_equal, helpers.restored_state(trained, tiny_config),
               helpers.restored_state(tmp_path / 'uninterrupted', tiny_config))


def test_no_readable_checkpoint_stops_without_moving_anything(trained, tiny_config):
  for step in (4, 8, 12):
    _truncate_newest(trained, step)
  with pytest.raises(RuntimeError, match='None of the checkpoints .* restores'):
    trainer.train_and_evaluate(tiny_config, str(trained))
  assert sorted(os.listdir(trained / 'checkpoints')) == ['12', '4', '8']
  assert not (trained / 'corrupt_checkpoints').exists()


def test_load_errors_say_what_to_do(tmp_path, trained):
  with pytest.raises(FileNotFoundError, match='No such directory'):
    ali_jax.load(str(tmp_path / 'nowhere'))
  with pytest.raises(FileNotFoundError, match='not an ali_jax workdir'):
    ali_jax.load(str(tmp_path))
  with pytest.raises(ValueError, match=r'no checkpoint at step 5; it has \[4, 8, 12\]'):
    ali_jax.load(str(trained), step=5)
  empty = tmp_path / 'empty_run'
  shutil.copytree(trained, empty)
  shutil.rmtree(empty / 'checkpoints')
  with pytest.raises(FileNotFoundError, match='has no checkpoint yet'):
    ali_jax.load(str(empty))
  broken = tmp_path / 'broken_config'
  shutil.copytree(trained, broken)
  (broken / 'config.json').write_text('{"seed": ')
  with pytest.raises(ValueError, match='not valid JSON'):
    ali_jax.load(str(broken))


def test_load_falls_back_past_a_truncated_checkpoint(trained):
  _truncate_newest(trained, 12)
  assert ali_jax.load(str(trained)).step == 8
  assert sorted(os.listdir(trained / 'checkpoints')) == ['12', '4', '8']  # read-only


def test_inference_inputs_are_checked(trained):
  model = ali_jax.load(str(trained))
  with pytest.raises(ValueError, match=r'x has shape \(10, 3\); expected \(batch,\) \+ \(2,\)'):
    model.encode(np.zeros((10, 3)))
  with pytest.raises(ValueError, match=r'x has shape \(2,\)'):
    model.encode(np.zeros(2))
  with pytest.raises(TypeError, match='x has dtype <U1'):
    model.encode(np.array([['a', 'b']]))
  with pytest.raises(ValueError, match='x holds NaN or infinite values'):
    model.reconstruct(np.array([[0.0, np.inf]]))
  with pytest.raises(ValueError, match=r'z has shape \(4, 3\); expected \(batch,\) \+ \(2,\)'):
    model.decode(np.zeros((4, 3)))
  with pytest.raises(ValueError, match='num_samples=-1'):
    model.sample(-1)
  assert model.encode(np.zeros((3, 2), np.int64)).shape == (3, 2)  # integers are converted
  assert model.sample(0).shape == (0, 2)
