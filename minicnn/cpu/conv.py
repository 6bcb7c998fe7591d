"""Numba fast paths for im2col and col2im (see minicnn/functional/conv.py for the references).

Both use the kernels' layout, the images side by side: col (C*kh*kw, N*OH*OW).
im2col: the NumPy reference first copies the input into a zero-padded buffer, then makes
one single-threaded strided copy; the loop below writes each column row once, reading
the padding as zeros, with the rows of different channels in parallel.  col2im: the
NumPy reference makes kh*kw passes over the whole image, each a strided
read-modify-write; the loop below makes one pass per image channel, keeping its rows in
cache, channels in parallel -- several times faster for 3x3 and larger kernels.
"""
import types

import numba
import numpy as np

from .. import dispatch
from ..geometry import output_hw
from .threads import in_worker


@numba.njit(cache=True, parallel=True)
def _im2col_kernel(x, cols, sh, sw, ph, pw, dh, dw):
    # x: (N, C, H, W) -> cols: (C, kh, kw, N, OH, OW)
    N, C, H, W = x.shape
    _, kh, kw, _, OH, OW = cols.shape
    zero = x.dtype.type(0)
    for ci in numba.prange(C * kh):    # each (channel, tap row) fills its own rows of cols
        c, i = ci // kh, ci % kh
        for j in range(kw):
            for n in range(N):
                for oh in range(OH):
                    h = oh * sh - ph + i * dh
                    if h < 0 or h >= H:      # this tap row falls on the zero padding
                        for ow in range(OW):
                            cols[c, i, j, n, oh, ow] = zero
                        continue
                    for ow in range(OW):
                        w = ow * sw - pw + j * dw
                        cols[c, i, j, n, oh, ow] = x[n, c, h, w] if 0 <= w < W else zero


@numba.njit(cache=True, parallel=True)
def _col2im_kernel(cols, H, W, sh, sw, ph, pw, dh, dw):
    # cols: (C, kh, kw, N, OH, OW) -> x: (N, C, H, W)
    C, kh, kw, N, OH, OW = cols.shape
    x = np.zeros((N, C, H, W), dtype=cols.dtype)
    for nc in numba.prange(N * C):     # each (image, channel) is written by one thread only
        n, c = nc // C, nc % C
        for i in range(kh):
            for oh in range(OH):
                h = oh * sh - ph + i * dh
                if h < 0 or h >= H:
                    continue           # this tap row fell on the zero padding: drop it
                for j in range(kw):
                    for ow in range(OW):
                        w = ow * sw - pw + j * dw
                        if 0 <= w < W:
                            x[n, c, h, w] += cols[c, i, j, n, oh, ow]
    return x


def _serial_twin(kernel):
    """The same loops on the calling thread only (compiled without parallel=True, a prange is
    a plain range), for the image-parallel convolution's workers (minicnn/cpu/threads.py):
    each core already has its own chunk of images.  It needs a name of its own: Numba's
    on-disk cache would otherwise hand it the parallel version's machine code."""
    loops = kernel.py_func
    twin = types.FunctionType(loops.__code__, loops.__globals__, loops.__name__ + "_serial")
    twin.__qualname__ = loops.__qualname__ + "_serial"
    return numba.njit(cache=True, nogil=True)(twin)


_im2col_serial = _serial_twin(_im2col_kernel)
_col2im_serial = _serial_twin(_col2im_kernel)


@dispatch.register("im2col", "numba")
def im2col_numba(x, kernel_size, stride, padding, dilation):
    """Same arguments and result as ``im2col_numpy`` (settings are pairs)."""
    N, C = x.shape[:2]
    OH, OW = output_hw(x.shape, kernel_size, stride, padding, dilation)
    cols = np.empty((C, kernel_size[0], kernel_size[1], N, OH, OW), x.dtype)
    (_im2col_serial if in_worker() else _im2col_kernel)(x, cols, *stride, *padding, *dilation)
    return cols.reshape(C * kernel_size[0] * kernel_size[1], N * OH * OW)


@dispatch.register("col2im", "numba")
def col2im_numba(col, input_shape, kernel_size, stride, padding, dilation):
    """Same arguments and result as ``col2im_numpy`` (settings are pairs)."""
    N, C, H, W = input_shape
    OH, OW = output_hw(input_shape, kernel_size, stride, padding, dilation)
    cols = np.ascontiguousarray(col).reshape(C, kernel_size[0], kernel_size[1], N, OH, OW)
    return (_col2im_serial if in_worker() else _col2im_kernel)(cols, H, W, *stride, *padding, *dilation)
