"""VALID convolutions and transposed convolutions, each in several exact formulations.

Every function takes x (N, H, W, C) and a kernel (kh, kw, C, O) and computes
the same numbers (up to float32 summation order) as flax's nn.Conv /
nn.ConvTranspose with padding='VALID' and the same kernel; the formulations
differ only in which convolutions XLA is asked to run, which matters a lot on
CPU (benchmarks: experiments/benchmark.py, README "Performance"):

conv (strided):
  plain           one strided convolution.
  space_to_depth  s x s blocks of the input become channels, the kernel is
                  zero-padded to a multiple of s and folded the same way: one
                  stride-1 convolution, whose input gradient is an ordinary
                  convolution rather than a dilated one.
  phase_input_gradient
                  the plain strided convolution, whose input gradient (a
                  transposed convolution) is computed by the `phase`
                  decomposition below instead of a dilated convolution.
  per_shape       a kernel as large as the input (one window): one matmul.
                  Otherwise strided: phase_input_gradient. Few input channels
                  (RGB images): the input gradient as one matmul to per-tap
                  columns summed back into place (col2im), because a
                  convolution with 3 output channels uses the vector units
                  poorly. Otherwise phase_input_gradient.
conv_transpose:
  plain           lax.conv_transpose (what flax runs).
  padded          the zero-dilated, zero-padded input written out (behind an
                  optimization barrier so XLA does not fold it back into a
                  dilated convolution), then one stride-1 convolution.
  phase           the sub-pixel decomposition: output pixel (s*m + r) only
                  sees kernel taps congruent to r, so the s*s output phases are
                  one stride-1 convolution of the (un-dilated) input with the
                  kernel's taps regrouped into s*s*O channels, then interleaved.
                  No multiplications by inserted zeros (s*s times fewer FLOPs
                  than `padded`). A 1x1 input is one einsum.
  phase_adjoint   `phase` forward (stride 1: one convolution, XLA's padding);
                  gradients from the adjoint: a transposed convolution of x is
                  the input gradient of a strided VALID convolution, so
                  <dy, y> = <conv(dy, W~, s), x> (W~: W mirrored, channels
                  swapped). dx is that convolution (computed as space_to_depth)
                  and the weight gradient is its weight gradient against x: for
                  stride 1, a window of the input's size over dy rather than of
                  the output's size over x padded by k - 1; for stride 2, no
                  phase interleaving to undo. XLA:CPU runs these 1.2-2.5x faster.

`Conv` and `ConvTranspose` (bottom) are the flax modules that the networks
use; model.conv_implementation picks their formulations (IMPLEMENTATIONS).
"""
import math
from typing import Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from ali_jax.settings import choices

_DIMENSIONS = ('NHWC', 'HWIO', 'NHWC')


def _conv(x, kernel, strides=(1, 1)):
  return jax.lax.conv_general_dilated(x, kernel, strides, 'VALID',
                                      dimension_numbers=_DIMENSIONS)


def _with_backward(forward, backward):
  """forward(x, kernel, strides) whose gradients are backward(strides, (x, kernel), dy)."""
  function = jax.custom_vjp(forward, nondiff_argnums=(2,))
  function.defvjp(lambda x, kernel, strides: (forward(x, kernel, strides), (x, kernel)),
                  backward)
  return function


# ---- Convolutions ----------------------------------------------------------------

def conv_plain(x, kernel, strides):
  return _conv(x, kernel, strides)


def conv_space_to_depth(x, kernel, strides):
  (kh, kw, c, o), (sh, sw) = kernel.shape, strides
  if (sh, sw) == (1, 1):
    return _conv(x, kernel)
  qh, qw = math.ceil(kh / sh), math.ceil(kw / sw)
  out_h, out_w = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
  # The input rows that the output reads: (out - 1) * s + k, rounded up to whole
  # blocks; rows past the input are zeros that meet zero kernel taps.
  rows, cols = (out_h - 1 + qh) * sh, (out_w - 1 + qw) * sw
  x = x[:, :rows, :cols]
  x = jnp.pad(x, [(0, 0), (0, rows - x.shape[1]), (0, cols - x.shape[2]), (0, 0)])
  n = x.shape[0]
  blocks = x.reshape(n, rows // sh, sh, cols // sw, sw, c).transpose(0, 1, 3, 2, 4, 5)
  blocks = blocks.reshape(n, rows // sh, cols // sw, sh * sw * c)
  folded = jnp.pad(kernel, [(0, qh * sh - kh), (0, qw * sw - kw), (0, 0), (0, 0)])
  folded = folded.reshape(qh, sh, qw, sw, c, o).transpose(0, 2, 1, 3, 4, 5)
  return _conv(blocks, folded.reshape(qh, qw, sh * sw * c, o))


def _conv_phase_input_gradient_backward(strides, residuals, dy):
  x, kernel = residuals
  # The input gradient of a strided convolution is the transposed convolution
  # of dy with the kernel mirrored and its channels swapped; rows and columns
  # past the last window get none.
  dx = conv_transpose_phase(dy, kernel[::-1, ::-1].swapaxes(2, 3), strides)
  dx = jnp.pad(dx, [(0, 0), (0, x.shape[1] - dx.shape[1]), (0, x.shape[2] - dx.shape[2]),
                    (0, 0)])
  _, kernel_gradient = jax.vjp(lambda k: _conv(x, k, strides), kernel)
  return dx, kernel_gradient(dy)[0]


conv_phase_input_gradient = _with_backward(_conv, _conv_phase_input_gradient_backward)


# Input channels up to which a stride-1 convolution's input gradient is a matmul + col2im.
COL2IM_MAX_CHANNELS = 4


def _conv_col2im_input_gradient_backward(strides, residuals, dy):
  del strides  # (1, 1)
  x, kernel = residuals
  kh, kw, c, o = kernel.shape
  # Each output pixel sends dy . W[i, j] to input pixel (p + (i, j)): one matmul
  # to all taps' columns, then each tap's column block shifted into place.
  columns = jnp.dot(dy.reshape(-1, o), kernel.reshape(-1, o).T)
  columns = columns.reshape(dy.shape[:3] + (kh, kw, c))
  dx = sum(jnp.pad(columns[:, :, :, i, j], [(0, 0), (i, kh - 1 - i), (j, kw - 1 - j), (0, 0)])
           for i in range(kh) for j in range(kw))
  _, kernel_gradient = jax.vjp(lambda k: _conv(x, k), kernel)
  return dx, kernel_gradient(dy)[0]


conv_col2im_input_gradient = _with_backward(_conv, _conv_col2im_input_gradient_backward)


def conv_per_shape(x, kernel, strides):
  if x.shape[1:3] == kernel.shape[:2]:  # one window: a matmul, (n, 1, 1, o)
    # As a dot of the flattened arrays: the einsum form makes XLA:CPU transpose
    # the kernel (2x slower for SVHN's 4x4x256x512 kernel).
    flat_kernel = kernel.reshape(-1, kernel.shape[-1])
    return jnp.dot(x.reshape(x.shape[0], -1), flat_kernel)[:, None, None]
  if tuple(strides) == (1, 1) and x.shape[-1] <= COL2IM_MAX_CHANNELS:
    return conv_col2im_input_gradient(x, kernel, (1, 1))
  return conv_phase_input_gradient(x, kernel, strides)


# ---- Transposed convolutions -----------------------------------------------------

def conv_transpose_plain(x, kernel, strides):
  return jax.lax.conv_transpose(x, kernel, strides, 'VALID', dimension_numbers=_DIMENSIONS)


def conv_transpose_padded(x, kernel, strides):
  (kh, kw, _, _), (sh, sw) = kernel.shape, strides
  padded = jax.lax.pad(x, jnp.zeros((), x.dtype),
                       [(0, 0, 0), (kh - 1, kh - 1, sh - 1), (kw - 1, kw - 1, sw - 1),
                        (0, 0, 0)])
  return _conv(jax.lax.optimization_barrier(padded), kernel)


def conv_transpose_phase(x, kernel, strides):
  (kh, kw, c, o), (sh, sw) = kernel.shape, strides
  n, h, w, _ = x.shape
  if (h, w) == (1, 1):  # every output pixel sees the one input pixel through one tap
    return jnp.einsum('nc,hwco->nhwo', x[:, 0, 0], kernel[::-1, ::-1])
  if (sh, sw) == (1, 1):
    return conv_transpose_padded(x, kernel, strides)  # no zeros to skip
  qh, qw = math.ceil(kh / sh), math.ceil(kw / sw)
  # With the kernel zero-padded at the front to q*s taps, phase r of the output
  # correlates the input (padded by q - 1) with taps r' = s*j + (s - 1 - r).
  front = jnp.pad(kernel, [(qh * sh - kh, 0), (qw * sw - kw, 0), (0, 0), (0, 0)])
  phases = front.reshape(qh, sh, qw, sw, c, o)[:, ::-1, :, ::-1]
  phases = phases.transpose(0, 2, 4, 1, 3, 5).reshape(qh, qw, c, sh * sw * o)
  padded = jnp.pad(x, [(0, 0), (qh - 1, qh - 1), (qw - 1, qw - 1), (0, 0)])
  y = _conv(jax.lax.optimization_barrier(padded), phases)  # (n, h+qh-1, w+qw-1, sh*sw*o)
  rows, cols = y.shape[1], y.shape[2]
  y = y.reshape(n, rows, cols, sh, sw, o).transpose(0, 1, 3, 2, 4, 5)
  y = y.reshape(n, rows * sh, cols * sw, o)
  return y[:, :(h - 1) * sh + kh, :(w - 1) * sw + kw]


def _conv_transpose_phase_forward(x, kernel, strides):
  if tuple(strides) == (1, 1):  # no zeros to skip; the padding needs no barrier here
    (kh, kw, _, _) = kernel.shape
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), [(kh - 1, kh - 1), (kw - 1, kw - 1)],
                                        dimension_numbers=_DIMENSIONS)
  return conv_transpose_phase(x, kernel, strides)


def _conv_transpose_adjoint_backward(strides, residuals, dy):
  x, kernel = residuals
  # y = conv_transpose(x, W) is the input gradient of u -> conv(u, W~, strides),
  # so <dy, y> = <conv(dy, W~, strides), x>: dx is that convolution, and W~'s
  # gradient is its weight gradient against x.
  mirrored = kernel[::-1, ::-1].swapaxes(2, 3)
  dx, mirrored_gradient = jax.vjp(lambda k: conv_space_to_depth(dy, k, strides), mirrored)
  return dx, mirrored_gradient(x)[0][::-1, ::-1].swapaxes(2, 3)


_conv_transpose_adjoint = _with_backward(_conv_transpose_phase_forward,
                                         _conv_transpose_adjoint_backward)


def conv_transpose_phase_adjoint(x, kernel, strides):
  if x.shape[1:3] == (1, 1):  # phase's einsum; its own gradients are matmuls too
    return conv_transpose_phase(x, kernel, strides)
  return _conv_transpose_adjoint(x, kernel, tuple(strides))


CONV = {'plain': conv_plain, 'space_to_depth': conv_space_to_depth,
        'phase_input_gradient': conv_phase_input_gradient, 'per_shape': conv_per_shape}
CONV_TRANSPOSE = {
    'plain': conv_transpose_plain, 'padded': conv_transpose_padded,
    'phase': conv_transpose_phase,
    'phase_adjoint': conv_transpose_phase_adjoint}


# ---- The flax layers ------------------------------------------------------------

# model.conv_implementation -> (strided conv, transposed conv) formulations.
# All compute the same function with the same parameters, so a checkpoint
# moves freely between them; they differ in speed per platform.
IMPLEMENTATIONS = {
    'plain': ('plain', 'plain'),              # what flax's nn.Conv / nn.ConvTranspose run
    'padded': ('plain', 'padded'),
    'phase': ('plain', 'phase'),
    'phase_space_to_depth': ('space_to_depth', 'phase'),
    'phase_all': ('phase_input_gradient', 'phase'),
    'per_shape': ('per_shape', 'phase_adjoint'),
}
# 'auto' per backend. CPU: the fastest step measured with experiments/benchmark.py
# (experiments/results/benchmarks/). Other backends: XLA's own (transposed)
# convolutions.
AUTO_IMPLEMENTATION = {'cpu': 'per_shape'}


def resolve_implementation(name):
  """`name`, or for 'auto' the formulation chosen for the running backend."""
  if name == choices.AUTO:
    return AUTO_IMPLEMENTATION.get(jax.default_backend(), 'plain')
  if name not in IMPLEMENTATIONS:
    raise ValueError(f'model.conv_implementation={name!r}; expected auto or one of '
                     f'{tuple(IMPLEMENTATIONS)}.')
  return name


class _ValidConv(nn.Module):
  """A VALID (transposed) convolution whose formulation is picked from FORMULATIONS.

  Parameters are 'kernel' (kh, kw, in, out) and 'bias', as flax's layers name them.
  """
  features: int
  kernel_size: Tuple[int, int]
  strides: Tuple[int, int]
  use_bias: bool = True
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  implementation: str = 'plain'
  dtype: jnp.dtype = jnp.float32  # of the computation; parameters are float32
  FORMULATIONS = {}  # implementation -> fn(x, kernel, strides)

  @nn.compact
  def __call__(self, x):
    kernel = self.param('kernel', self.kernel_init,
                        tuple(self.kernel_size) + (x.shape[-1], self.features))
    y = self.FORMULATIONS[self.implementation](x.astype(self.dtype), kernel.astype(self.dtype),
                                               tuple(self.strides))
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class Conv(_ValidConv):
  """nn.Conv(padding='VALID') with a choice of formulation (CONV).

  Same parameter names and shapes, and the same auto-name (Conv_i) as nn.Conv,
  so checkpoints are interchangeable.
  """
  FORMULATIONS = CONV


class ConvTranspose(_ValidConv):
  """nn.ConvTranspose(padding='VALID') with a choice of formulation
  (CONV_TRANSPOSE): the same parameters, outputs and gradients, n -> (n - 1) * s + k.

  Why not flax's: XLA:CPU computes the weight gradient of a strided transposed
  (or lhs-dilated) convolution with a generic loop at a few GFLOP/s; the other
  formulations avoid it (experiments/layer_benchmark.py measures each layer).
  """
  FORMULATIONS = CONV_TRANSPOSE
