"""One run at a time in a workdir: a file lock on disk, a lock object in a bucket.

FileLock (local disk, NFS): flock on <workdir>/.lock. The kernel drops it when
the process dies, however it dies, so a killed run never leaves it behind.

BucketLock (gs://): a bucket has no flock, so the lock is an object,
<workdir>/.lock, that GCS creates only if it does not exist (a generation
precondition, atomic on the server). Its holder rewrites it every
stale_after_s / 4 (a heartbeat, each write conditional on the generation it
last wrote). What it guarantees:
- of runs that start together, exactly one gets the lock;
- a run that finds the lock watches it: if the heartbeat moves, its holder is
  alive and the run is refused at once; if it does not move for stale_after_s,
  the holder died (SIGKILL, a lost VM) and the run takes the lock over, again
  by a conditional write, so two runs cannot both take over;
- a holder that has not renewed for longer than stale_after_s (the bucket
  unreachable, or the lock taken over) stops before its next checkpoint
  (check_held) rather than write beside a run that may have taken over; what
  it committed before stays, and the same command continues from it.
"""
import fcntl
import json
import os
import socket
import threading
import time
import uuid

from absl import logging
from google.api_core import exceptions
from google.cloud import storage
from google.cloud.storage import retry as storage_retry

from ali_jax.settings import mistakes

LOCK_FILE = '.lock'


def busy(workdir, holder):
  """The mistake of starting a run in a workdir that another run holds."""
  return mistakes.WorkdirInUse(f'Another run ({holder}) is using {workdir}; wait for it to '
                               'finish or use another --workdir.')


def file_lock_holder(lock_path):
  """Who holds the FileLock at `lock_path` ('process N'), or None; writes nothing.

  A shared flock, taken and dropped at once: it fails only while a run holds the
  exclusive one, and two of these never refuse each other.
  """
  try:
    lock_file = open(lock_path)  # pylint: disable=consider-using-with
  except FileNotFoundError:
    return None  # a held lock has its file
  with lock_file:
    try:
      fcntl.flock(lock_file, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
      return f'process {lock_file.read().strip() or "unknown"}'
    fcntl.flock(lock_file, fcntl.LOCK_UN)
  return None


class FileLock:
  """flock on a file: held until released or until the process dies."""

  def __init__(self, lock_path):
    self._path = lock_path
    self._file = None

  def __enter__(self):
    self._file = open(self._path, 'a+')  # pylint: disable=consider-using-with
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      self._file.seek(0)
      holder = self._file.read().strip() or 'unknown'
      self._file.close()
      raise busy(os.path.dirname(self._path), f'process {holder}') from None
    self._file.seek(0)
    self._file.truncate()
    self._file.write(str(os.getpid()))
    self._file.flush()
    return self

  def check_held(self):
    """Nothing to check: only the process's death releases a flock."""

  def __exit__(self, *exc_info):
    fcntl.flock(self._file, fcntl.LOCK_UN)
    self._file.close()


class BucketLock:
  """A lock object in a GCS bucket with a heartbeat (see the module docstring)."""

  def __init__(self, url, *, stale_after_s, clock=time.monotonic):
    """clock: seconds, for the staleness of heartbeats (tests advance their own)."""
    bucket, _, self._name = url[len('gs://'):].partition('/')
    self._bucket_name, self._url = bucket, url
    self._workdir = url.rsplit('/', 1)[0]
    self._stale_after_s = stale_after_s
    self._clock = clock
    self._beat_every_s = stale_after_s / 4
    self._token = uuid.uuid4().hex
    self._holder = f'{socket.gethostname()} process {os.getpid()}'
    self._generation = None
    self._renewed_at = None  # clock() at the last write that held
    self._last_error = None
    self._lost = None
    self._stop = threading.Event()
    self._thread = None
    self._bucket = None

  # ---- the object ----

  def _blob(self):
    if self._bucket is None:
      self._bucket = storage.Client().bucket(self._bucket_name)
    return self._bucket.blob(self._name)

  def _write(self, if_generation_match):
    """Writes this holder's record if the object is at that generation (0: absent)."""
    blob = self._blob()
    record = {'holder': self._holder, 'token': self._token, 'heartbeat': time.time()}
    # Retried for one heartbeat at most: an outage shows in check_held, and
    # the thread stops promptly at the end of the run.
    blob.upload_from_string(json.dumps(record), content_type='application/json',
                            if_generation_match=if_generation_match,
                            timeout=self._beat_every_s,
                            retry=storage_retry.DEFAULT_RETRY.with_timeout(self._beat_every_s))
    self._renewed_at = self._clock()
    return blob.generation

  def _read(self):
    """(generation, record) of the lock object, or None if there is none."""
    blob = self._blob()
    try:
      text = blob.download_as_text()
    except exceptions.NotFound:
      return None
    try:
      record = json.loads(text)
    except json.JSONDecodeError:
      record = {'holder': f'unreadable lock record {text[:80]!r}'}
    return blob.generation, record

  def _write_or_find_mine(self, if_generation_match):
    """_write, but a write of ours that a retry reports as failed counts as done."""
    try:
      return self._write(if_generation_match)
    except exceptions.PreconditionFailed:
      found = self._read()
      if found is not None and found[1].get('token') == self._token:
        return found[0]
      raise

  # ---- taking and releasing ----

  def __enter__(self):
    watched, watched_since = None, None
    deadline = self._clock() + self._stale_after_s + 2 * self._beat_every_s
    while self._generation is None:
      try:
        self._generation = self._write_or_find_mine(if_generation_match=0)
        break
      except exceptions.PreconditionFailed:
        pass
      found = self._read()
      if found is None:  # released meanwhile: try again
        continue
      generation, record = found
      holder = record.get('holder', 'unknown')
      if watched is None:
        watched, watched_since = generation, self._clock()
        logging.info('%s is locked by %s; watching its heartbeat for up to %.0f s.',
                     self._workdir, holder, self._stale_after_s)
      elif generation != watched or self._clock() > deadline:
        raise busy(self._workdir, f'{holder}, whose lock {self._url} is renewed '
                    f'every {self._beat_every_s:.0f} s')
      elif self._clock() - watched_since >= self._stale_after_s:
        try:  # not renewed for stale_after_s: its run died
          self._generation = self._write_or_find_mine(if_generation_match=watched)
        except exceptions.PreconditionFailed:
          raise busy(self._workdir, holder) from None
        logging.warning('Took over the lock of %s from %s, which had not renewed it for '
                        '%.0f s.', self._workdir, holder, self._stale_after_s)
      else:
        time.sleep(min(1.0, self._beat_every_s / 2))
    self._thread = threading.Thread(target=self._heartbeat, name='workdir lock', daemon=True)
    self._thread.start()
    return self

  def _heartbeat(self):
    while not self._stop.wait(self._beat_every_s):
      try:
        self._generation = self._write_or_find_mine(if_generation_match=self._generation)
      except exceptions.PreconditionFailed:
        found = self._read()
        self._lost = (f'the lock {self._url} was taken over by '
                      f'{found[1].get("holder") if found else "another run, then released"}')
        logging.error('Lost %s.', self._lost)
        return
      except Exception as error:  # pylint: disable=broad-except  (network: try again)
        self._last_error = f'{type(error).__name__}: {str(error)[:300]}'
        logging.warning('Could not renew the lock %s: %s', self._url, self._last_error)

  def check_held(self):
    """Raises RuntimeError unless the lock was renewed within stale_after_s."""
    if self._lost:
      raise RuntimeError(f'This run stopped: {self._lost} after this run could not renew it '
                         f'for {self._stale_after_s:.0f} s. The checkpoints it committed '
                         'are kept; the other run continues from them.')
    silent_s = self._clock() - self._renewed_at
    if silent_s > self._stale_after_s:
      raise RuntimeError(
          f'This run stopped: it could not renew its lock {self._url} for {silent_s:.0f} s '
          f'(last error: {self._last_error}), so another run may have taken the workdir '
          'over. The checkpoints it committed are kept: once the bucket is reachable, run '
          'the same command again to continue.')

  def __exit__(self, *exc_info):
    self._stop.set()
    self._thread.join()
    if self._lost is None:
      try:
        self._blob().delete(
            if_generation_match=self._generation, timeout=self._beat_every_s,
            retry=storage_retry.DEFAULT_RETRY.with_timeout(self._beat_every_s))
      except (exceptions.NotFound, exceptions.PreconditionFailed):
        pass
      except Exception as error:  # pylint: disable=broad-except  (the run's result stands)
        logging.warning('Could not release the lock %s (%s); the next run takes it over '
                        'after %.0f s.', self._url, error, self._stale_after_s)
