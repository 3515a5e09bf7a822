"""Giving memory that the process no longer uses back to the operating system.

Two things inflate the resident memory of a training process on a CPU host
without holding anything the run needs (measured on the SVHN config, 2 cores):
  - Creating the state runs each initialiser op by op, and jax compiles and
    caches an executable for every distinct op and shape: ~250 MB that no
    later step uses.
  - XLA's compiler frees its working memory after compiling the step, but
    glibc's malloc keeps freed pages in its arenas: ~290 MB.
`release()` drops the one and returns the other.
"""
import ctypes
import ctypes.util
import functools
import gc

import jax


@functools.cache
def _malloc_trim():
  """glibc's malloc_trim, or None where the C library has none (macOS, musl)."""
  name = ctypes.util.find_library('c')
  library = ctypes.CDLL(name) if name else None
  return getattr(library, 'malloc_trim', None)


def release(drop_compiled=False):
  """Returns freed heap pages to the OS; with drop_compiled, first drops every
  compiled executable jax has cached (they recompile if used again)."""
  if drop_compiled:
    jax.clear_caches()
  gc.collect()
  trim = _malloc_trim()
  if trim is not None:
    trim(0)
