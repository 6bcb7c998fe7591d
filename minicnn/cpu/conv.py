"""Numba fast path for col2im (see minicnn/functional/conv.py for the reference).

Why only col2im: the NumPy col2im makes kh*kw passes over the whole image, each
a strided read-modify-write; the loop below makes one pass, keeps each image
channel's rows in cache and runs channels in parallel -- several times faster
for 3x3 and larger kernels.  For im2col, NumPy's single strided copy was faster
than a Numba loop, so there is no fast path for it.
"""
import numba
import numpy as np

from .. import dispatch
from ..geometry import output_hw


@numba.njit(cache=True, parallel=True)
def _col2im_kernel(cols, H, W, sh, sw, ph, pw, dh, dw):
    # cols: (N, C, kh, kw, OH, OW) -> x: (N, C, H, W)
    N, C, kh, kw, OH, OW = cols.shape
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
                            x[n, c, h, w] += cols[n, c, i, j, oh, ow]
    return x


@dispatch.register("col2im", "numba")
def col2im_numba(col, input_shape, kernel_size, stride, padding, dilation):
    """Same arguments and result as ``col2im_numpy`` (settings are pairs)."""
    N, C, H, W = input_shape
    OH, OW = output_hw(input_shape, kernel_size, stride, padding, dilation)
    cols = np.ascontiguousarray(col).reshape(N, C, kernel_size[0], kernel_size[1], OH, OW)
    return _col2im_kernel(cols, H, W, *stride, *padding, *dilation)

