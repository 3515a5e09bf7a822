"""A Google Cloud Storage emulator on 127.0.0.1, started and stopped by the tests.

gcp-storage-emulator serves the JSON API that google-cloud-storage, gcsfs (so
etils.epath), tensorstore (so orbax) and tensorboardX speak. Version 2026.7.19
ignores generation preconditions and sends no generation with a download,
which GCS does and both tensorstore's OCDBT manifests and the bucket lock rely
on. `_add_generations` adds them as GCS documents them: an upload or delete
answers 412 unless the object's current generation equals ifGenerationMatch
(0: the object must not exist); a download carries X-Goog-Generation and
answers 304 if that equals ifGenerationNotMatch, 412 unless it equals
ifGenerationMatch.
"""
import contextlib
import functools
import http
from http import server as http_server
import os
import threading
import time

from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator import storage as emulator_storage
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import buckets
from gcp_storage_emulator.handlers import objects

BUCKET = 'ali-jax-tests'
REBIND_WAIT_S = 5.0  # how long a restart tries its old port


def _object_name(request):
  if 'name' in request.query:
    return request.query['name'][0]
  upload_type = request.query.get('uploadType', [''])[0]
  metadata = request.data.get('meta', {}) if upload_type == 'multipart' else request.data
  return (metadata or {}).get('name')


def _precondition_holds(request, storage, name):
  expected = request.query.get('ifGenerationMatch')
  if expected is None or name is None:
    return True
  try:
    current = str(storage.get_file_obj(request.params['bucket_name'], name)['generation'])
  except NotFound:
    current = '0'
  return current == expected[0]


def _with_preconditions(handler, name_of):
  def handle(request, response, storage, *args, **kwargs):
    if not _precondition_holds(request, storage, name_of(request)):
      response.status = http.HTTPStatus.PRECONDITION_FAILED
      response.json({'error': {'code': 412, 'message': 'conditionNotMet',
                               'errors': [{'reason': 'conditionNotMet'}]}})
      return None
    return handler(request, response, storage, *args, **kwargs)
  return handle


def _download_with_generation(handler):
  def handle(request, response, storage, *args, **kwargs):
    try:
      generation = str(storage.get_file_obj(request.params['bucket_name'],
                                            request.params['object_id'])['generation'])
    except NotFound:
      return handler(request, response, storage, *args, **kwargs)  # its 404
    response['X-Goog-Generation'] = generation
    if request.query.get('ifGenerationNotMatch', [None])[0] == generation:
      response.status = http.HTTPStatus.NOT_MODIFIED
      return None
    if request.query.get('ifGenerationMatch', [generation])[0] != generation:
      response.status = http.HTTPStatus.PRECONDITION_FAILED
      return None
    return handler(request, response, storage, *args, **kwargs)
  return handle


def _add_generations():
  """Wraps the emulator's uploads, deletes and downloads (once per process)."""
  if getattr(objects, 'with_generations', False):
    return
  wrapped = {
      objects.insert: _with_preconditions(objects.insert, _object_name),
      objects.delete: _with_preconditions(objects.delete,
                                          lambda request: request.params['object_id']),
      objects.download: _download_with_generation(objects.download)}
  emulator_server.HANDLERS = tuple(
      (pattern, {method: wrapped.get(handler, handler) for method, handler in routes.items()})
      for pattern, routes in emulator_server.HANDLERS)
  # Called by name: the router's fallback for uploads, and get(alt=media).
  objects.insert, objects.download = wrapped[objects.insert], wrapped[objects.download]
  objects.with_generations = True


class Emulator:
  """The emulator on a loopback port; `env` points every client at it.

  The first start binds port 0 and keeps the port the kernel gave; a start after a stop
  binds that port again (clients keep its URL), trying for a few seconds should the old
  socket still linger. A start that cannot bind raises instead of waiting.

  data_dir: keep objects on disk, so that a stopped emulator started again
  still has them; None keeps them in memory.
  """

  def __init__(self, data_dir=None):
    _add_generations()
    self.port = None
    self._data_dir = data_dir
    self._httpd = None
    self._thread = None

  @property
  def url(self):
    return f'http://127.0.0.1:{self.port}'

  @property
  def env(self):
    return {'STORAGE_EMULATOR_HOST': self.url, 'TENSORSTORE_GCS_HTTP_URL': self.url,
            # else gcsfs probes for gRPC: warnings, and once a minute's stall
            'GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT': 'false',
            'GOOGLE_CLOUD_PROJECT': 'ali-jax-tests'}

  def _bind(self, handler):
    deadline = time.monotonic() + REBIND_WAIT_S
    while True:
      try:
        return http_server.HTTPServer(('127.0.0.1', self.port or 0), handler)
      except OSError as error:
        if self.port is None or time.monotonic() > deadline:
          raise RuntimeError(f'The storage emulator cannot bind 127.0.0.1:{self.port}: '
                             f'{error}') from error
        time.sleep(0.1)

  def start(self):
    storage = emulator_storage.Storage(
        use_memory_fs=self._data_dir is None,
        data_dir=None if self._data_dir is None else str(self._data_dir))
    buckets.create_bucket(BUCKET, storage)
    self._httpd = self._bind(functools.partial(emulator_server.RequestHandler, storage))
    self.port = self._httpd.server_address[1]
    self._thread = threading.Thread(target=self._httpd.serve_forever, name='gcs emulator',
                                    daemon=True)
    self._thread.start()

  def stop(self):
    if self._httpd is not None:
      self._httpd.shutdown()
      self._httpd.server_close()
      self._thread.join(timeout=10)
      self._httpd = self._thread = None


@contextlib.contextmanager
def running(data_dir=None):
  """An emulator for the block, with os.environ pointing at it."""
  emulator = Emulator(data_dir)
  emulator.start()  # binds its port, which env names
  saved = {key: os.environ.get(key) for key in emulator.env}
  os.environ.update(emulator.env)
  try:
    yield emulator
  finally:
    emulator.stop()
    for key, value in saved.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
