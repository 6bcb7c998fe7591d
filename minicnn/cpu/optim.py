"""Numba fast path for the optimizers' update; the readable NumPy reference is in
minicnn/optim/sgd.py.

The reference makes a pass over the memory per array expression (decay the buffer, add
the gradient, add to the weight: eight weight-sized reads and writes, for alexnet's 61M
weights about 2 GB a step); this loop reads each value once and writes it once, on
every core.  The arithmetic is the reference's, operation for operation, in the arrays'
dtype, so the numbers are the same.
"""
import numba

from .. import dispatch
from ..optim.sgd import sgd_update_numpy

_BLOCK = 1 << 16     # elements per parallel task: a few hundred KB, many tasks per core


@numba.njit(cache=True, parallel=True)
def _sgd(p_all, g_all, buf_all, lr, momentum, keep, weight_decay, nesterov, maximize, first_step):
    # p, g, buf: 1-D of one dtype; buf is unused (one element) without momentum.  Each task
    # takes its block as slices: loops over contiguous slices vectorise, and the flags'
    # branches are hoisted out of them (twice the speed of indexing the whole arrays)
    for block in numba.prange((p_all.size + _BLOCK - 1) // _BLOCK):
        lo, hi = block * _BLOCK, min(p_all.size, (block + 1) * _BLOCK)
        p, g = p_all[lo:hi], g_all[lo:hi]
        buf = buf_all[lo:hi] if momentum != 0 else buf_all
        for i in range(hi - lo):
            d = -g[i] if maximize else g[i]
            if weight_decay != 0:
                d = d + weight_decay * p[i]
            if momentum != 0:
                v = d if first_step else momentum * buf[i] + keep * d
                buf[i] = v
                d = d + momentum * v if nesterov else v
            p[i] = p[i] + lr * d          # lr arrives negated: p - lr*d, as the reference


@dispatch.register("sgd_update", "numba")
def sgd_update(param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
               nesterov, maximize, first_step):
    """``sgd_update_numpy`` in one pass; arrays it cannot view as one flat block of one
    dtype (a strided view, a gradient of another dtype) take the reference."""
    arrays = (param, grad) if momentum == 0 else (param, grad, momentum_buffer)
    if not all(a.flags.c_contiguous and a.dtype == param.dtype for a in arrays):
        return sgd_update_numpy(param, grad, momentum_buffer, lr, momentum, dampening,
                                weight_decay, nesterov, maximize, first_step)
    scalar = param.dtype.type       # the reference's Python floats meet the arrays as this
    buf = momentum_buffer.reshape(-1) if momentum != 0 else param.reshape(-1)[:1]
    _sgd(param.reshape(-1), grad.reshape(-1), buf, scalar(-lr), scalar(momentum),
         scalar(1 - dampening), scalar(weight_decay), nesterov, maximize, first_step)
