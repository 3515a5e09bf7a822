"""gs:// workdirs end to end, through the real main.py, against a local GCS emulator.

The emulator (tests/gcs_emulator.py) runs on 127.0.0.1 for this module; each
test uses its own folder of the bucket.
"""
import io
import re
import signal
import struct
import uuid

from etils import epath
import jax
import numpy as np
from PIL import Image
import pytest
from tensorboardX.proto import event_pb2

import ali_jax
from ali_jax.runs import summaries as summaries_lib
from ali_jax.runs import workdir as workdir_lib
from ali_jax.runs import workdir_lock
from ali_jax.training import trainer
from tests import gcs_emulator
from tests import helpers

# A short lock timeout: a killed run's lock is taken over after 6 s. Its heartbeats (every
# STALE_S / 4, each request allowed as long) go to a one-threaded emulator that also serves
# the checkpoints; at 3 s a loaded machine stalled them long enough to stop a live run.
STALE_S = 6.0
LOCK_FLAG = f'--config.workdir_lock_stale_s={STALE_S}'


@pytest.fixture(scope='module')
def emulator(tmp_path_factory):
  # On disk, so that a test can stop it and start it again with its objects.
  with gcs_emulator.running(data_dir=tmp_path_factory.mktemp('gcs')) as running:
    yield running


@pytest.fixture
def bucket_workdir(emulator):
  del emulator
  return f'gs://{gcs_emulator.BUCKET}/{uuid.uuid4().hex[:8]}'


def _constant_rate(config, steps):
  config.optimizer.schedule = 'constant'
  config.num_train_steps = steps
  config.workdir_lock_stale_s = STALE_S
  return config


def _checkpoint_every_5_steps(config, steps):
  """The settings of the killed runs below, for the run that resumes them."""
  _constant_rate(config, steps)
  config.checkpoint_every_steps = 5
  config.eval_every_steps = 100000
  return config


def _ends_like_a_local_run(bucket_workdir, local_workdir, config):
  """Trains `config` on local disk; the bucket run must end in the same state, bit for bit."""
  trainer.train_and_evaluate(config, str(local_workdir))
  jax.tree.map(np.testing.assert_array_equal, helpers.restored_state(bucket_workdir, config),
               helpers.restored_state(local_workdir, config))


def test_fresh_run_writes_everything_and_loads(bucket_workdir, tmp_path, tiny_config):
  process = helpers.launch_main(bucket_workdir, tmp_path / 'run.log', LOCK_FLAG)
  assert helpers.wait_all([process], timeout=240) == [0], (tmp_path / 'run.log').read_text()
  run = epath.Path(bucket_workdir)
  names = {p.name for p in run.iterdir()}
  assert {'config.json', 'eval.json', 'images', 'checkpoints'} <= names, names
  assert any(n.startswith('events.out.tfevents.') for n in names)
  assert '.lock' not in names  # released at the end
  assert {p.name for p in (run / 'images').iterdir()} == {
      'samples.png', 'reconstructions.png', 'latents.png'}
  assert helpers.finished_checkpoints(bucket_workdir) == [4, 8, 12]

  model = ali_jax.load(bucket_workdir)
  assert model.step == tiny_config.num_train_steps
  _ends_like_a_local_run(bucket_workdir, tmp_path / 'local', tiny_config)


def test_a_second_writer_is_refused_and_a_dead_ones_lock_taken_over(
    bucket_workdir, tmp_path, tiny_config):
  log = tmp_path / 'run.log'
  process = helpers.launch_main(bucket_workdir, log, LOCK_FLAG,
                                '--config.num_train_steps=100000',
                                '--config.log_every_steps=10',
                                '--config.checkpoint_every_steps=100000')
  try:
    assert helpers.wait_until(helpers.log_contains(log, 'step 10/'), process,
                              timeout=120), log.read_text()
    tiny_config.workdir_lock_stale_s = STALE_S
    with pytest.raises(RuntimeError, match=f'Another run \\(.* process {process.pid},'):
      trainer.train_and_evaluate(tiny_config, bucket_workdir)
  finally:
    process.send_signal(signal.SIGKILL)
    process.wait()
  assert (epath.Path(bucket_workdir) / '.lock').exists()  # a killed run leaves its lock
  # Not renewed for STALE_S, it is taken over: the workdir is usable again.
  tiny_config.num_train_steps = 16
  assert trainer.train_and_evaluate(tiny_config, bucket_workdir)['step'] == 16


def test_sigkill_mid_run_and_mid_checkpoint_then_resume_bit_for_bit(
    bucket_workdir, tmp_path, tiny_config):
  # The killed runs are given more steps than a kill can reach, so that none ends before
  # its kill; a constant learning rate keeps their updates the same.
  flags = (LOCK_FLAG, '--config.optimizer.schedule=constant', '--config.log_every_steps=5',
           '--config.checkpoint_every_steps=5', '--config.eval_every_steps=100000',
           '--config.num_train_steps=100000')
  killed_mid_write = 0
  for attempt in range(3):
    log = tmp_path / f'attempt_{attempt}.log'
    process = helpers.launch_main(bucket_workdir, log, *flags)
    try:
      assert helpers.wait_until(helpers.has_checkpoint_at_least(bucket_workdir,
                                                                5 * (attempt + 1)),
                                process, timeout=120), log.read_text()
      if attempt % 2:  # then while the next checkpoint is being written
        helpers.wait_until(helpers.checkpoint_being_written(bucket_workdir), process,
                           timeout=60, interval=0.01)
    finally:
      process.send_signal(signal.SIGKILL)
      process.wait()
    killed_mid_write += helpers.checkpoint_being_written(bucket_workdir)()
    assert process.returncode == -signal.SIGKILL, log.read_text()
  assert killed_mid_write >= 1  # at least one kill left a checkpoint half written

  final_step = max(40, max(helpers.finished_checkpoints(bucket_workdir)) + 10)
  _checkpoint_every_5_steps(tiny_config, final_step)
  assert trainer.train_and_evaluate(tiny_config, bucket_workdir)['step'] == final_step
  _ends_like_a_local_run(bucket_workdir, tmp_path / 'uninterrupted', tiny_config)


def _truncate_data(checkpoint):
  for file in workdir_lib._files_under(checkpoint):  # pylint: disable=protected-access
    if '/d/' in str(file):
      data = file.read_bytes()
      file.write_bytes(data[:len(data) // 2])


def test_truncated_newest_checkpoint_is_skipped_and_kept_aside(bucket_workdir, tmp_path,
                                                               tiny_config):
  _constant_rate(tiny_config, 12)
  trainer.train_and_evaluate(tiny_config, bucket_workdir)
  _truncate_data(workdir_lib.checkpoint_dir(bucket_workdir) / '12')
  tiny_config.num_train_steps = 16
  assert trainer.train_and_evaluate(tiny_config, bucket_workdir)['step'] == 16  # from 8
  corrupt = [p.name for p in (epath.Path(bucket_workdir) / 'corrupt_checkpoints').iterdir()]
  assert len(corrupt) == 1 and corrupt[0].startswith('12-')
  assert helpers.finished_checkpoints(bucket_workdir) == [8, 12, 16]
  _ends_like_a_local_run(bucket_workdir, tmp_path / 'uninterrupted', tiny_config)


def test_sigterm_to_one_of_two_hosts_saves_in_the_bucket(bucket_workdir, tmp_path,
                                                         tiny_config):
  logs = [tmp_path / f'process_{i}.log' for i in range(2)]
  processes = helpers.launch_two_hosts(
      bucket_workdir, logs, LOCK_FLAG, '--config.num_train_steps=100000',
      '--config.log_every_steps=10', '--config.checkpoint_every_steps=100000',
      '--config.eval_every_steps=100000')
  try:
    assert helpers.wait_until(helpers.log_contains(logs[0], 'step 30/'), processes[0],
                              timeout=180), logs[0].read_text()
  finally:
    processes[1].send_signal(signal.SIGTERM)  # the scheduler preempts one host
  assert helpers.wait_all(processes, timeout=180) == [0, 0], [p.read_text() for p in logs]
  saved = helpers.finished_checkpoints(bucket_workdir)
  assert len(saved) == 1 and saved[0] >= 30
  assert helpers.restored_state(bucket_workdir, tiny_config).step == saved[0]
  assert not (epath.Path(bucket_workdir) / '.lock').exists()


class _Clock:
  """A clock that moves only when the test moves it."""

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_a_run_that_cannot_renew_its_lock_stops_before_its_next_checkpoint(emulator):
  del emulator  # this test stops an emulator of its own
  clock, stale_s = _Clock(), 2.0  # heartbeats every 0.5 s of real time
  with gcs_emulator.running() as going_away:
    lock = workdir_lock.BucketLock(f'gs://{gcs_emulator.BUCKET}/run/.lock',
                                   stale_after_s=stale_s, clock=clock)
    with lock:
      # Renewed, it stays held however long the run has been going.
      clock.now = 100.0
      # pylint: disable=protected-access
      first = lock._generation
      assert helpers.wait_until(lambda: lock._generation != first, None, 30), 'no heartbeat'
      lock.check_held()
      # The bucket goes away: once a heartbeat has failed (heartbeats are written one
      # after another, so none after it can succeed), stale_s of silence stops the run.
      going_away.stop()
      lock._last_error = None
      assert helpers.wait_until(lambda: lock._last_error is not None, None, 30), (
          'no failed heartbeat')
      clock.now += stale_s - 0.5
      lock.check_held()
      clock.now += 1.0
      with pytest.raises(RuntimeError, match='could not renew its lock .*last error: '
                         '.*run the same command again'):
        lock.check_held()


def _events(data):
  """The Event protos of a TensorBoard record file's bytes."""
  events, offset = [], 0
  while offset < len(data):
    (length,) = struct.unpack_from('<Q', data, offset)
    events.append(event_pb2.Event.FromString(data[offset + 12:offset + 12 + length]))
    offset += 12 + length + 4  # length, its crc, the record, its crc
  return events


def test_summaries_in_a_bucket_arrive_whole_in_small_files(bucket_workdir, monkeypatch):
  monkeypatch.setattr(summaries_lib, 'BUCKET_EVENT_FILE_BYTES', 500)
  forced, uploads = [False], []  # uploads: whether each came from a forced flush
  monkeypatch.setattr(workdir_lib, 'write_bytes',
                      lambda file, data: (uploads.append(forced[0]),
                                          epath.Path(file).write_bytes(data)))
  summaries = summaries_lib.Summaries(bucket_workdir)
  png = io.BytesIO()
  Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png, format='png')
  for step in range(1, 31):
    summaries.scalars('train', {'loss': float(step)}, step)
    summaries.flush()  # not due: no upload
    if step % 10 == 0:
      summaries.png_images('eval', {'samples.png': png.getvalue()}, step)
      summaries.scalars('eval', {'score': step * 0.1}, step)
      forced[0] = True
      summaries.flush(force=True)
      forced[0] = False
  assert uploads and all(uploads)  # a minute had not passed: only forced flushes upload
  summaries.close()
  files = sorted(p for p in epath.Path(bucket_workdir).iterdir()
                 if p.name.startswith('events.out.tfevents.'))
  assert len(files) > 1  # rolled over past BUCKET_EVENT_FILE_BYTES
  values = [(v.tag, e.step) for f in files for e in _events(f.read_bytes())
            for v in e.summary.value]
  assert sorted(s for tag, s in values if tag == 'train/loss') == list(range(1, 31))
  assert sorted(s for tag, s in values if tag == 'eval/samples') == [10, 20, 30]


def test_the_bucket_going_away_stops_the_run_and_a_restart_loses_nothing(
    emulator, bucket_workdir, tmp_path, tiny_config):
  log = tmp_path / 'run.log'
  # Given more steps than it can take before the bucket goes away, so that it is still
  # running then; a constant learning rate keeps its updates the same.
  process = helpers.launch_main(
      bucket_workdir, log, LOCK_FLAG, '--config.checkpoint_write_timeout_s=10',
      '--config.optimizer.schedule=constant', '--config.log_every_steps=5',
      '--config.checkpoint_every_steps=5', '--config.eval_every_steps=100000',
      '--config.num_train_steps=100000')
  try:
    assert helpers.wait_until(helpers.has_checkpoint_at_least(bucket_workdir, 10), process,
                              timeout=120), log.read_text()
    emulator.stop()
    # It fails, at most checkpoint_write_timeout_s after a write stalls; not hangs.
    assert helpers.wait_all([process], timeout=180) == [1], log.read_text()
  finally:
    emulator.start()
  assert re.search(r'(has not finished writing after 10 s|Writing a checkpoint in .* failed).*'
                   'run the same command again once the storage is reachable',
                   log.read_text()), log.read_text()[-3000:]
  committed = helpers.finished_checkpoints(bucket_workdir)
  assert max(committed) >= 10

  # Restarted, it continues from its last committed checkpoint and ends where
  # an uninterrupted run ends.
  final_step = max(40, max(committed) + 10)
  _checkpoint_every_5_steps(tiny_config, final_step)
  assert trainer.train_and_evaluate(tiny_config, bucket_workdir)['step'] == final_step
  _ends_like_a_local_run(bucket_workdir, tmp_path / 'uninterrupted', tiny_config)
