"""Numba fast paths for ReLU; the readable NumPy references are in minicnn/functional/activation.py.

NumPy's ``where(out <= 0, 0, g)`` makes a temporary boolean array and runs on one core;
these loops make one pass on every core.  The comparisons are written so that a NaN
takes the same branch as in the references (``v <= 0`` is False for NaN).
"""
import numba
import numpy as np

from .. import dispatch


@numba.njit(cache=True, parallel=True)
def _relu(x, out):
    for i in numba.prange(x.size):
        v = x[i]
        out[i] = 0 if v <= 0 else v          # NaN: not <= 0, so it stays NaN


@numba.njit(cache=True, parallel=True)
def _relu_backward(g, out, gx):
    for i in numba.prange(g.size):
        gx[i] = 0 if out[i] <= 0 else g[i]   # flows where the unit was on (or NaN)


@dispatch.register("relu_forward", "numba")
def relu_forward(x):
    """x -> max(x, 0); a NaN stays NaN."""
    out = np.empty(x.shape, x.dtype)
    _relu(x.reshape(-1), out.reshape(-1))
    return out


@dispatch.register("relu_backward", "numba")
def relu_backward(grad_out, out):
    """The gradient where the unit was on (out > 0, or NaN), 0 elsewhere."""
    gx = np.empty(grad_out.shape, grad_out.dtype)
    _relu_backward(grad_out.reshape(-1), out.reshape(-1), gx.reshape(-1))
    return gx
