"""TensorBoard summaries of a run, written into its workdir (local or a bucket)."""
import io
import os
import shutil
import tempfile
import time
import weakref

import numpy as np
from PIL import Image
import tensorboardX

from ali_jax.runs import workdir as workdir_lib

# TensorBoard events in a bucket: an upload at most this often, and a new event
# file past this size.
BUCKET_UPLOAD_EVERY_S = 60
BUCKET_EVENT_FILE_BYTES = 1 << 20


class Summaries:
  """TensorBoard scalars and images in the workdir (process 0 only), with tensorboardX.

  In a bucket, events are written to a local file that is uploaded whole (an
  object cannot be appended to) at most every BUCKET_UPLOAD_EVERY_S and at
  flush(force=True); past BUCKET_EVENT_FILE_BYTES a new file is started, so each
  upload stays small however long the run. TensorBoard reads the files as one run.
  """

  def __init__(self, workdir):
    self._workdir = workdir_lib.path(workdir)
    self._local_dir = (tempfile.mkdtemp(prefix='ali_jax_events_')
                       if workdir_lib.is_bucket(workdir) else None)
    if self._local_dir is not None:  # removed however the run ends (close() uploads first)
      weakref.finalize(self, shutil.rmtree, self._local_dir, ignore_errors=True)
    self._uploaded = {}  # local event file name -> its size when last uploaded
    self._last_upload = time.monotonic()
    self._files = 0
    self._writer = self._new_writer()

  def _new_writer(self):
    self._files += 1
    return tensorboardX.SummaryWriter(self._local_dir or str(self._workdir),
                                      filename_suffix=f'.{self._files}')

  def scalars(self, prefix, values, step):
    for name, value in values.items():
      self._writer.add_scalar(f'{prefix}/{name}', value, step)

  def png_images(self, prefix, figures, step):
    """figures: {file name: PNG bytes}."""
    for name, png in figures.items():
      with Image.open(io.BytesIO(png)) as image:
        self._writer.add_image(f'{prefix}/{os.path.splitext(name)[0]}',
                               np.asarray(image.convert('RGB')), step, dataformats='HWC')

  def flush(self, force=False):
    """Writes what was added; in a bucket, uploads if forced or due."""
    self._writer.flush()
    if self._local_dir is not None and (
        force or time.monotonic() - self._last_upload >= BUCKET_UPLOAD_EVERY_S):
      self._upload()
      current = [n for n in self._uploaded if n.endswith(f'.{self._files}')]
      if sum(self._uploaded[n] for n in current) > BUCKET_EVENT_FILE_BYTES:
        self._writer.close()  # all of it was just uploaded
        self._writer = self._new_writer()

  def _upload(self):
    for name in sorted(os.listdir(self._local_dir)):
      local = os.path.join(self._local_dir, name)
      if self._uploaded.get(name) != os.path.getsize(local):
        self._uploaded[name] = os.path.getsize(local)
        with open(local, 'rb') as f:
          workdir_lib.write_bytes(self._workdir / name, f.read())
    self._last_upload = time.monotonic()

  def close(self):
    self._writer.close()
    if self._local_dir is not None:
      self._upload()
      shutil.rmtree(self._local_dir, ignore_errors=True)
