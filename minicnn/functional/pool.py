"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Every pooling op here is described by two *window tables*, one for the rows and
one for the columns of the output (``Windows``, built once per geometry by
``sliding_windows`` or ``adaptive_windows``).  Output pixel (oh, ow) pools the
input rows ``rows.start[oh], rows.start[oh] + rows.step, ... < rows.stop[oh]``
and likewise for the columns.  Taps in the padding are already left out of the
tables, so max pooling ignores them (padding with -inf) and average pooling
sums only real values, dividing by a separately computed ``divisor``.

The array-level kernels (``max_pool_forward`` & co.) work on raw arrays shaped
(..., H, W).  Each has a readable NumPy reference (``*_numpy``) and a Numba fast
path in ``minicnn/cpu/pool.py``; ``_implementation`` picks one.
"""
import functools
from typing import NamedTuple

import numpy as np

from .. import backend, cuda
from ..autograd import Function, Tensor


# ----- window tables ---------------------------------------------------------
class Windows(NamedTuple):
    """Where the pooling windows of one axis lie; one entry per output row (or column)."""
    start: np.ndarray   # (out,) int64: first tap inside the input
    stop: np.ndarray    # (out,) int64: one past the last tap inside the input
    step: int           # distance between taps (the dilation)
    count: np.ndarray   # (out,) int64: window length counting padding (avg_pool2d's default divisor)

    @property
    def max_taps(self):
        """The most taps any window has inside the input."""
        taps = -((self.start - self.stop) // self.step)       # ceil((stop - start) / step)
        return int(taps.max(initial=0))


def pool_output_size(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """PyTorch's output length along one axis (may be < 1: the caller reports that)."""
    span = dilation * (kernel - 1) + 1                        # the window, dilation included
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1          # ceil mode may not start a window in the right padding
    return out


@functools.lru_cache(maxsize=256)
def sliding_windows(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """The windows of max_pool2d / avg_pool2d along one axis of length ``size``."""
    out = pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    first = np.arange(out, dtype=np.int64) * stride - padding    # first tap, maybe in the padding
    # skip the taps in the left padding: PyTorch steps forward by whole dilations
    start = first + -(first.clip(max=0) // dilation) * dilation
    stop = np.minimum(first + dilation * (kernel - 1) + 1, size)
    # count_include_pad counts the padding but not the ceil-mode overhang beyond it
    count = np.minimum(first + kernel, size + padding) - first
    return Windows(start, stop, dilation, count)


@functools.lru_cache(maxsize=256)
def adaptive_windows(size, out):
    """Bin i of ``out`` covers [floor(i*size/out), ceil((i+1)*size/out)): bins may overlap."""
    i = np.arange(out, dtype=np.int64)
    start = i * size // out
    stop = -(-(i + 1) * size // out)
    return Windows(start, stop, 1, stop - start)


def _no_taps(rows, cols):
    """(OH, OW) mask of windows with no tap inside the input, or None if there are none.

    Only a dilated max pool can have such windows (its taps may straddle a small input).
    """
    mask = (rows.start >= rows.stop)[:, None] | (cols.start >= cols.stop)[None, :]
    return mask if mask.any() else None


# ----- array-level kernels: NumPy references ------------------------------------
def max_pool_forward_numpy(x, rows, cols):
    """x: (B, H, W) -> values, argmax: (B, OH, OW); argmax is the flat index h*W + w.

    Loops over the kernel offsets (i, j): at each one, gathers tap i of every row
    window and tap j of every column window from all windows at once and keeps
    the running maximum.  Taps outside the input are never taken: padding is -inf.
    """
    xp = backend.get_array_module(x)
    B, H, W = x.shape
    r_start, r_stop, c_start, c_stop = (xp.asarray(a) for a in
                                        (rows.start, rows.stop, cols.start, cols.stop))
    best = xp.full((B, len(r_start), len(c_start)), -np.inf, dtype=x.dtype)
    # if nothing beats -inf, PyTorch reports the window's first real tap
    argmax = xp.broadcast_to(r_start[:, None] * W + c_start[None, :], best.shape).copy()
    for i in range(rows.max_taps):
        h = r_start + i * rows.step                              # (OH,) tap i of each row window
        for j in range(cols.max_taps):
            w = c_start + j * cols.step                          # (OW,)
            inside = (h < r_stop)[:, None] & (w < c_stop)[None, :]      # (OH, OW)
            tap = x[:, h.clip(0, H - 1)[:, None], w.clip(0, W - 1)[None, :]]   # (B, OH, OW)
            wins = inside & ((tap > best) | xp.isnan(tap))      # NaN wins, as in PyTorch
            best = xp.where(wins, tap, best)
            argmax = xp.where(wins, h[:, None] * W + w[None, :], argmax)
    return best, argmax


def max_pool_backward_numpy(g, argmax, H, W):
    """g, argmax: (B, OH, OW) -> grad (B, H, W): each output gradient is added at its argmax.

    Overlapping windows can share an argmax, so this is a scatter-*add*: bincount
    with weights sums everything sent to the same index (and is fast, unlike np.add.at).
    """
    xp = backend.get_array_module(g)
    B = g.shape[0]
    flat = argmax + (xp.arange(B) * (H * W))[:, None, None]    # index into all B planes
    grad = xp.bincount(flat.ravel(), weights=g.ravel(), minlength=B * H * W)
    return grad.astype(g.dtype, copy=False).reshape(B, H, W)


def _window_matrix(windows, size, xp, dtype):
    """(out, size) matrix with M[o, i] = 1 where input i lies in window o (dilation 1)."""
    i = xp.arange(size)
    start, stop = xp.asarray(windows.start), xp.asarray(windows.stop)
    return ((start[:, None] <= i) & (i < stop[:, None])).astype(dtype)


def avg_pool_forward_numpy(x, rows, cols, divisor):
    """x: (B, H, W) -> (B, OH, OW).

    Window sums are linear and separable: summing the rows of each window is the
    matrix product R @ x with R: (OH, H), R[oh, h] = 1 where row h is in window oh;
    the columns likewise with C: (OW, W).  So the windows sums are R @ x @ C.T.
    """
    xp = backend.get_array_module(x)
    R = _window_matrix(rows, x.shape[1], xp, x.dtype)
    C = _window_matrix(cols, x.shape[2], xp, x.dtype)
    return (R @ x @ C.T) / xp.asarray(divisor)


def avg_pool_backward_numpy(g, rows, cols, divisor, H, W):
    """g: (B, OH, OW) -> grad (B, H, W): the transpose of the forward, R.T @ (g / divisor) @ C."""
    xp = backend.get_array_module(g)
    R = _window_matrix(rows, H, xp, g.dtype)
    C = _window_matrix(cols, W, xp, g.dtype)
    return R.T @ (g / xp.asarray(divisor)) @ C


# ----- array-level kernels: dispatch -----------------------------------------
def _implementation(x, numpy_version):
    """The kernel to run on array x: the Numba fast path of the same name for NumPy
    arrays (when enabled), else the NumPy reference; for CuPy arrays the CUDA kernel
    of the same name (kernels/pool.cu, launched by minicnn/cuda/launch.py)."""
    if backend.get_array_module(x) is not np:
        return getattr(cuda.ops(), numpy_version.__name__.removesuffix("_numpy"))
    if backend.get_array_module(x) is np and backend.numba_enabled():
        from ..cpu import pool as numba_pool        # imported late: Numba is slow to import
        return getattr(numba_pool, numpy_version.__name__.removesuffix("_numpy"))
    return numpy_version


def _planes(a):
    """(..., H, W) -> contiguous (B, H, W): the kernels see a stack of 2-D planes."""
    xp = backend.get_array_module(a)
    return xp.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def max_pool_forward(x, rows, cols):
    """x: (..., H, W) -> values, argmax: (..., OH, OW); argmax indexes each H*W plane."""
    out, argmax = _implementation(x, max_pool_forward_numpy)(_planes(x), rows, cols)
    shape = x.shape[:-2] + out.shape[1:]
    return out.reshape(shape), argmax.reshape(shape)


def max_pool_backward(g, argmax, x_shape, rows, cols):
    """g, argmax: (..., OH, OW) -> gradient of shape x_shape (..., H, W)."""
    H, W = x_shape[-2:]
    if backend.get_array_module(g) is not np:   # the CUDA kernel gathers: it needs the windows
        grad = cuda.ops().max_pool_backward(_planes(g), _planes(argmax), H, W, rows, cols)
        return grad.reshape(x_shape)
    grad = _implementation(g, max_pool_backward_numpy)(_planes(g), _planes(argmax), H, W)
    return grad.reshape(x_shape)


def avg_pool_forward(x, rows, cols, divisor):
    """x: (..., H, W) -> (..., OH, OW): window sums / divisor (OH, OW)."""
    out = _implementation(x, avg_pool_forward_numpy)(_planes(x), rows, cols, divisor)
    return out.reshape(x.shape[:-2] + out.shape[1:])


def avg_pool_backward(g, rows, cols, divisor, x_shape):
    """g: (..., OH, OW) -> gradient of shape x_shape (..., H, W)."""
    H, W = x_shape[-2:]
    grad = _implementation(g, avg_pool_backward_numpy)(_planes(g), rows, cols, divisor, H, W)
    return grad.reshape(x_shape)


# ----- autograd Functions ----------------------------------------------------
class MaxPool(Function):
    """Links a max-pool result into the graph; backward sends each output gradient to its argmax.

    The public functions compute the values *and* the argmax first (they may have to
    return both, and a Function returns one array) and pass them in as settings
    ``out`` and ``argmax``, along with ``no_taps`` (see ``_no_taps``) and the windows
    ``rows``, ``cols`` (the CUDA backward needs them).
    """

    def forward(self, x):                    # x: (..., H, W); out, argmax: (..., OH, OW)
        self.x_shape = x.shape
        return self.out

    def backward(self, g):
        argmax = self.argmax
        if self.no_taps is not None:         # such windows have no input to send gradient to
            xp = backend.get_array_module(g)
            no_taps = xp.asarray(self.no_taps)
            g, argmax = xp.where(no_taps, 0, g), xp.where(no_taps, 0, argmax)
        return max_pool_backward(g, argmax, self.x_shape, self.rows, self.cols)


class AvgPool(Function):
    """Window averages for avg_pool2d and adaptive_avg_pool2d (settings rows, cols, divisor)."""

    def forward(self, x):                    # x: (..., H, W) -> (..., OH, OW)
        self.x_shape = x.shape
        return avg_pool_forward(x, self.rows, self.cols, self.divisor)

    def backward(self, g):
        return avg_pool_backward(g, self.rows, self.cols, self.divisor, self.x_shape)


class GlobalAvgPool(Function):
    """adaptive_avg_pool2d(x, 1): the mean of each plane.  Written as a product with a
    vector of 1/(H*W): NumPy sums many short rows slowly, a matrix-vector product is fast."""

    def forward(self, x):                    # x: (..., H, W) -> (..., 1, 1)
        xp = backend.get_array_module(x)
        self.x_shape = x.shape
        H, W = x.shape[-2:]
        return (_planes(x).reshape(-1, H * W) @ xp.full(H * W, 1 / (H * W), x.dtype)).reshape(
            x.shape[:-2] + (1, 1))

    def backward(self, g):                   # every input shares its plane's gradient equally
        xp = backend.get_array_module(g)
        H, W = self.x_shape[-2:]
        return xp.broadcast_to(g / (H * W), self.x_shape).copy()


# ----- argument checking -----------------------------------------------------
def _check_input(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"minicnn: {op}: expected a minicnn Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(f"minicnn: {op}: expected a 4-D input (N, C, H, W) or a 3-D one "
                         f"(C, H, W), got input of shape {input.shape}")
    if input.dtype.kind != "f":
        raise TypeError(f"minicnn: {op}: expected a floating-point input, got dtype {input.dtype}")
    if 0 in input.shape[-2:]:
        raise ValueError(f"minicnn: {op}: expected an input with non-zero height and width, "
                         f"got input of shape {input.shape}")


def _pair(op, name, value, minimum):
    """An int or a sequence of 1 or 2 ints -> (int, int), each at least ``minimum``."""
    values = (value,) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(values, (tuple, list)) or len(values) not in (1, 2)
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)):
        raise TypeError(f"minicnn: {op}: {name} must be an int or a pair of ints, got {value!r}")
    pair = (int(values[0]), int(values[-1]))
    if min(pair) < minimum:
        raise ValueError(f"minicnn: {op}: {name} must be at least {minimum}, got {value!r}")
    return pair


def _sliding_windows(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    """Check a max_pool2d / avg_pool2d geometry and return its (rows, cols) window tables."""
    _check_input(op, input)
    k = _pair(op, "kernel_size", kernel_size, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else _pair(op, "stride", stride, 1)
    p = _pair(op, "padding", padding, 0)
    d = _pair(op, "dilation", dilation, 1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"minicnn: {op}: padding {p} must be at most half of kernel_size {k}")
    size = input.shape[-2:]
    out = tuple(pool_output_size(size[a], k[a], s[a], p[a], d[a], ceil_mode) for a in (0, 1))
    if min(out) < 1:
        raise ValueError(f"minicnn: {op}: kernel_size {k} (dilation {d}) does not fit in the input "
                         f"of shape {input.shape} padded by {p}: the output would be {out}")
    return tuple(sliding_windows(size[a], k[a], s[a], p[a], d[a], bool(ceil_mode)) for a in (0, 1))


def _adaptive_output_size(op, input, output_size):
    """int or pair (None keeps that input size) -> (OH, OW)."""
    _check_input(op, input)
    sizes = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) else output_size
    ok = (isinstance(sizes, (tuple, list)) and len(sizes) == 2
          and all(v is None or isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
                  for v in sizes))
    if not ok:
        raise ValueError(f"minicnn: {op}: output_size must be a non-negative int or a pair of them "
                         f"(None keeps the input size), got {output_size!r}")
    return tuple(int(input.shape[a - 2]) if v is None else int(v) for a, v in enumerate(sizes))


# ----- the functional API ---------------------------------------------------
def _max_pool(input, rows, cols, return_indices):
    out, argmax = max_pool_forward(input.data, rows, cols)
    values = MaxPool.apply(input, out=out, argmax=argmax, no_taps=_no_taps(rows, cols),
                           rows=rows, cols=cols)
    return (values, Tensor(argmax)) if return_indices else values


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each window; padding counts as -inf.  With ``return_indices`` also the
    int64 argmax of each output as a flat index into its H*W input plane."""
    rows, cols = _sliding_windows("max_pool2d", input, kernel_size, stride, padding, dilation,
                                  ceil_mode)
    return _max_pool(input, rows, cols, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    OH, OW = _adaptive_output_size("adaptive_max_pool2d", input, output_size)
    H, W = input.shape[-2:]
    return _max_pool(input, adaptive_windows(H, OH), adaptive_windows(W, OW), return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean of each window.  The divisor is the window size counting padding (not the
    ceil-mode overhang beyond it), or only real inputs when count_include_pad=False,
    or ``divisor_override``."""
    rows, cols = _sliding_windows("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or divisor_override == 0:
            raise ValueError(f"minicnn: avg_pool2d: divisor_override must be a non-zero int, "
                             f"got {divisor_override!r}")
        divisor = np.full((len(rows.start), len(cols.start)), divisor_override)
    elif count_include_pad:
        divisor = np.outer(rows.count, cols.count)
    else:
        divisor = np.outer(rows.stop - rows.start, cols.stop - cols.start)
    return AvgPool.apply(input, rows=rows, cols=cols, divisor=divisor.astype(input.dtype))


def adaptive_avg_pool2d(input, output_size):
    """Mean over bin i = [floor(i*In/Out), ceil((i+1)*In/Out)) of each axis."""
    OH, OW = _adaptive_output_size("adaptive_avg_pool2d", input, output_size)
    if (OH, OW) == (1, 1):                   # global average pooling: just a mean
        return GlobalAvgPool.apply(input)
    H, W = input.shape[-2:]
    rows, cols = adaptive_windows(H, OH), adaptive_windows(W, OW)
    divisor = np.outer(rows.count, cols.count).astype(input.dtype)
    return AvgPool.apply(input, rows=rows, cols=cols, divisor=divisor)
