"""Numba fast paths for batch norm; the readable NumPy references are in minicnn/functional/norm.py.

Each function takes the same arguments as its ``*_numpy`` reference and returns the
same arrays.  The input is viewed as (N, C, S) with S = H*W.  NumPy makes one pass
over the whole activation per operator (x - mean, then * invstd, then * weight, ...),
each writing a fresh array; here each kernel reads its inputs once and writes its
outputs once.  The per-channel sums run one channel per thread (``prange`` over C)
and add in float64, so a float32 channel of a million values loses nothing to rounding.
``fastmath={"reassoc"}`` lets Numba vectorise those sums (it may reorder the additions)
without the other fast-math assumptions: NaN and inf still propagate.
"""
import numba
import numpy as np

from .. import dispatch

SUMS = dict(cache=True, parallel=True, fastmath={"reassoc"})


def _planes(a):
    """(N, C, ...) -> (N, C, S): spelled out, not -1, since N or C may be 0."""
    return a.reshape(a.shape[0], a.shape[1], int(np.prod(a.shape[2:])))


@numba.njit(**SUMS)
def _stats(x, mean, var):
    # x: (N, C, S) -> mean, var: (C,).  Two passes, like the reference: the squared
    # deviations from the mean, never E[x^2] - E[x]^2, which cancels for a large mean.
    N, C, S = x.shape
    for c in numba.prange(C):
        total = 0.0
        for n in range(N):
            for s in range(S):
                total += x[n, c, s]
        m = total / (N * S)
        squares = 0.0
        for n in range(N):
            for s in range(S):
                d = x[n, c, s] - m
                squares += d * d
        mean[c] = m
        var[c] = squares / (N * S)


@dispatch.register("batch_norm_stats", "numba")
def batch_norm_stats(x):
    """x: (N, C, ...) with N*H*W > 0 -> mean, var (biased): (C,), in x's dtype."""
    mean, var = np.empty(x.shape[1], x.dtype), np.empty(x.shape[1], x.dtype)
    _stats(_planes(x), mean, var)
    return mean, var


@numba.njit(**SUMS)
def _backward_sums(g, xhat, sum_g, sum_gxhat):
    # g, xhat: (N, C, S) -> sum_g, sum_gxhat: (C,)
    N, C, S = g.shape
    for c in numba.prange(C):
        a, b = 0.0, 0.0
        for n in range(N):
            for s in range(S):
                a += g[n, c, s]
                b += g[n, c, s] * xhat[n, c, s]
        sum_g[c] = a
        sum_gxhat[c] = b


@dispatch.register("batch_norm_backward_sums", "numba")
def batch_norm_backward_sums(grad_out, xhat):
    """grad_out, xhat: (N, C, ...) -> sum(grad_out), sum(grad_out * xhat) per channel."""
    c = grad_out.shape[1]
    sum_g, sum_gxhat = np.empty(c, grad_out.dtype), np.empty(c, grad_out.dtype)
    _backward_sums(_planes(grad_out), _planes(xhat), sum_g, sum_gxhat)
    return sum_g, sum_gxhat


@numba.njit(cache=True, parallel=True)
def _normalize(x, mean, invstd, weight, bias, out):
    # x: (N, C, S); mean, invstd, weight, bias: (C,) -> out: (N, C, S).
    # One thread per (image, channel) plane: planes are contiguous and independent.
    N, C, S = x.shape
    for p in numba.prange(N * C):
        n, c = p // C, p % C
        for s in range(S):
            xhat = (x[n, c, s] - mean[c]) * invstd[c]
            out[n, c, s] = xhat * weight[c] + bias[c]


@numba.njit(cache=True, parallel=True)
def _normalize_only(x, mean, invstd, xhat):
    # the same without the affine part: backward's recomputation of xhat
    N, C, S = x.shape
    for p in numba.prange(N * C):
        n, c = p // C, p % C
        for s in range(S):
            xhat[n, c, s] = (x[n, c, s] - mean[c]) * invstd[c]


@dispatch.register("batch_norm_forward", "numba")
def batch_norm_forward(x, mean, invstd, weight=None, bias=None):
    """x: (N, C, ...); mean, invstd, weight, bias: (C,) -> out = xhat * weight + bias, like
    x; xhat itself without weight and bias."""
    planes = _planes(x)
    out = np.empty(planes.shape, x.dtype)
    if weight is None and bias is None:
        _normalize_only(planes, mean, invstd, out)
    else:
        c = x.shape[1]
        weight = np.ones(c, x.dtype) if weight is None else weight
        bias = np.zeros(c, x.dtype) if bias is None else bias
        _normalize(planes, mean, invstd, weight, bias, out)
    return out.reshape(x.shape)


@numba.njit(cache=True, parallel=True)
def _backward(g, xhat, scale, mean_g, mean_gxhat, training, gx):
    # g, xhat: (N, C, S); scale, mean_g, mean_gxhat: (C,) -> gx: (N, C, S).  In eval the
    # statistics' paths do not exist: skipped, not multiplied by 0 (NaN * 0 is NaN).
    N, C, S = g.shape
    for p in numba.prange(N * C):
        n, c = p // C, p % C
        for s in range(S):
            d = g[n, c, s]
            if training:
                d = d - mean_g[c] - xhat[n, c, s] * mean_gxhat[c]
            gx[n, c, s] = d * scale[c]


@dispatch.register("batch_norm_backward", "numba")
def batch_norm_backward(grad_out, xhat, scale, mean_g=None, mean_gxhat=None):
    """grad_out, xhat: (N, C, ...); scale, mean_g, mean_gxhat: (C,)
    -> (grad_out - mean_g - xhat * mean_gxhat) * scale   (eval: the means are None and
    the result is grad_out * scale)."""
    dtype = grad_out.dtype
    training = mean_g is not None
    unused = np.zeros(grad_out.shape[1], dtype)
    planes = _planes(grad_out)
    gx = np.empty(planes.shape, dtype)
    _backward(planes, _planes(xhat), scale.astype(dtype, copy=False),
              mean_g.astype(dtype, copy=False) if training else unused,
              mean_gxhat.astype(dtype, copy=False) if training else unused, training, gx)
    return gx.reshape(grad_out.shape)
