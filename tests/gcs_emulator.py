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
import http
import os

from gcp_storage_emulator import server as emulator_server
from gcp_storage_emulator.handlers import objects
from gcp_storage_emulator.exceptions import NotFound

from tests import helpers

BUCKET = 'ali-jax-tests'


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
  """The emulator on a free port; `env` points every client at it.

  data_dir: keep objects on disk, so that a stopped emulator started again
  (on the same port) still has them; None keeps them in memory.
  """

  def __init__(self, data_dir=None):
    _add_generations()
    self.port = helpers.free_port()
    self.url = f'http://127.0.0.1:{self.port}'
    self._data_dir = data_dir
    self._server = None

  @property
  def env(self):
    return {'STORAGE_EMULATOR_HOST': self.url, 'TENSORSTORE_GCS_HTTP_URL': self.url,
            # else gcsfs probes for gRPC: warnings, and once a minute's stall
            'GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT': 'false',
            'GOOGLE_CLOUD_PROJECT': 'ali-jax-tests'}

  def start(self):
    self._server = emulator_server.create_server(
        '127.0.0.1', self.port, in_memory=self._data_dir is None, default_bucket=BUCKET,
        data_dir=None if self._data_dir is None else str(self._data_dir))
    self._server.start()

  def stop(self):
    if self._server is not None:
      self._server.stop()
      self._server = None


@contextlib.contextmanager
def running(data_dir=None):
  """An emulator for the block, with os.environ pointing at it."""
  emulator = Emulator(data_dir)
  emulator.start()
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
