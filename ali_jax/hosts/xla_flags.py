"""XLA flags that this project sets, and why. They must be set before JAX starts a backend.

--xla_cpu_experimental_ynn_fusion_type=-individual_convolution: XLA:CPU's
  experimental YNNPACK convolution fusion is slower than its Eigen convolutions
  for these networks (digits generator gradient with the 'padded' transposed
  convolution, batch 100, measured once on this project's 2-core machine: 652 ms
  with it, 129 ms without). A CPU-only flag: other backends ignore it.
"""
import os

FLAGS = ('--xla_cpu_experimental_ynn_fusion_type=-individual_convolution',)


def set_flags():
  """Adds FLAGS to XLA_FLAGS unless the user set them; returns the flags in force."""
  current = os.environ.get('XLA_FLAGS', '')
  names = {flag.split('=')[0] for flag in current.split()}
  added = [flag for flag in FLAGS if flag.split('=')[0] not in names]
  os.environ['XLA_FLAGS'] = ' '.join([current] + added).strip()
  return os.environ['XLA_FLAGS']
