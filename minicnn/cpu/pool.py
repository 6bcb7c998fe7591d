"""Numba fast paths for pooling; the readable NumPy references are in minicnn/functional/pool.py.

Each function takes the same arguments as its ``*_numpy`` reference: planes
x: (B, H, W) with B = N*C, and the window tables ``rows`` / ``cols``
(``minicnn.geometry.Windows``).  The planes are independent, so the
kernels run them in parallel (``prange``); inside a plane they walk each window
exactly as the tables describe: rows.start[oh], rows.start[oh] + rows.step, ... < rows.stop[oh].
Backward scatters into its own plane only, so no two threads write the same element.
"""
import numba
import numpy as np

from .. import dispatch


# ----- max pooling -----------------------------------------------------------
@numba.njit(cache=True, parallel=True)
def _max_forward(x, r_start, r_stop, r_step, c_start, c_stop, c_step, out, argmax):
    B, H, W = x.shape
    for b in numba.prange(B):
        for oh in range(out.shape[1]):
            for ow in range(out.shape[2]):
                best = x.dtype.type(-np.inf)
                best_at = r_start[oh] * W + c_start[ow]   # PyTorch's answer if nothing beats -inf
                for h in range(r_start[oh], r_stop[oh], r_step):
                    for w in range(c_start[ow], c_stop[ow], c_step):
                        v = x[b, h, w]
                        if v > best or v != v:          # NaN wins, as in PyTorch
                            best = v
                            best_at = h * W + w
                out[b, oh, ow] = best
                argmax[b, oh, ow] = best_at


@numba.njit(cache=True, parallel=True)
def _max_backward(g, argmax, grad):
    # g, argmax: (B, OH*OW); grad: (B, H*W) zeros
    for b in numba.prange(g.shape[0]):
        for o in range(g.shape[1]):
            grad[b, argmax[b, o]] += g[b, o]


@dispatch.register("max_pool_forward", "numba")
def max_pool_forward(x, rows, cols):
    """x: (B, H, W) -> values, argmax (flat index h*W + w): (B, OH, OW)."""
    shape = (x.shape[0], len(rows.start), len(cols.start))
    out, argmax = np.empty(shape, x.dtype), np.empty(shape, np.int64)
    _max_forward(x, rows.start, rows.stop, rows.step, cols.start, cols.stop, cols.step, out, argmax)
    return out, argmax


@dispatch.register("max_pool_backward", "numba")
def max_pool_backward(g, argmax, H, W, rows, cols):
    """g, argmax: (B, OH, OW) -> grad (B, H, W), each g added at its argmax (the windows are
    not needed: the scatter finds its target in argmax)."""
    B, OH, OW = g.shape              # spelled out, not -1: B may be 0 (an empty batch)
    grad = np.zeros((B, H * W), g.dtype)
    _max_backward(g.reshape(B, OH * OW), argmax.reshape(B, OH * OW), grad)
    return grad.reshape(B, H, W)


# ----- average pooling -------------------------------------------------------
@numba.njit(cache=True, parallel=True)
def _avg_forward(x, r_start, r_stop, c_start, c_stop, divisor, out):
    for b in numba.prange(x.shape[0]):
        for oh in range(out.shape[1]):
            for ow in range(out.shape[2]):
                total = x.dtype.type(0)
                for h in range(r_start[oh], r_stop[oh]):
                    for w in range(c_start[ow], c_stop[ow]):
                        total += x[b, h, w]
                out[b, oh, ow] = total / divisor[oh, ow]


@numba.njit(cache=True, parallel=True)
def _avg_backward(g, r_start, r_stop, c_start, c_stop, divisor, grad):
    for b in numba.prange(g.shape[0]):
        for oh in range(g.shape[1]):
            for ow in range(g.shape[2]):
                share = g[b, oh, ow] / divisor[oh, ow]
                for h in range(r_start[oh], r_stop[oh]):
                    for w in range(c_start[ow], c_stop[ow]):
                        grad[b, h, w] += share


@dispatch.register("avg_pool_forward", "numba")
def avg_pool_forward(x, rows, cols, divisor):
    """x: (B, H, W) -> (B, OH, OW): window sums / divisor (OH, OW)."""
    out = np.empty((x.shape[0], len(rows.start), len(cols.start)), x.dtype)
    _avg_forward(x, rows.start, rows.stop, cols.start, cols.stop, divisor, out)
    return out


@dispatch.register("avg_pool_backward", "numba")
def avg_pool_backward(g, rows, cols, divisor, H, W):
    """g: (B, OH, OW) -> grad (B, H, W): each g / divisor spread over its window."""
    grad = np.zeros((g.shape[0], H, W), g.dtype)
    _avg_backward(g, rows.start, rows.stop, cols.start, cols.stop, divisor, grad)
    return grad
