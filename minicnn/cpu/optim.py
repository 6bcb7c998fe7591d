"""Numba fast paths for the optimizers' updates; the readable NumPy references are in
minicnn/optim/sgd.py, adam.py and rmsprop.py.

The reference makes a pass over the memory per array expression (decay the buffer, add
the gradient, add to the weight: eight weight-sized reads and writes, for alexnet's 61M
weights about 2 GB a step); this loop reads each value once and writes it once, on
every core.  The arithmetic is the reference's, operation for operation, in the arrays'
dtype, so the numbers are the same.
"""
import numba
import numpy as np

from .. import dispatch
from ..optim.adam import adam_update_numpy
from ..optim.rmsprop import rmsprop_update_numpy
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


@numba.njit(cache=True, parallel=True)
def _adam(p_all, g_all, m_all, v_all, vmax_all, step_size, bias_correction2_sqrt, keep1, beta2,
          keep2, eps, weight_decay, shrink, amsgrad, maximize, decoupled):
    # p, g, m, v (and vmax with amsgrad; else one unused element): 1-D of one dtype, the
    # scalars in it: the reference's operations, one value at a time
    for block in numba.prange((p_all.size + _BLOCK - 1) // _BLOCK):
        lo, hi = block * _BLOCK, min(p_all.size, (block + 1) * _BLOCK)
        p, g, m, v = p_all[lo:hi], g_all[lo:hi], m_all[lo:hi], v_all[lo:hi]
        vmax = vmax_all[lo:hi] if amsgrad else vmax_all
        for i in range(hi - lo):
            d = -g[i] if maximize else g[i]
            if weight_decay != 0:
                if decoupled:
                    p[i] = p[i] * shrink
                else:
                    d = d + weight_decay * p[i]
            m[i] = m[i] + keep1 * (d - m[i])
            v[i] = v[i] * beta2 + keep2 * d * d
            second = v[i]
            if amsgrad:
                a, b = vmax[i], v[i]
                vmax[i] = a if a >= b or a != a else b     # np.maximum's: a NaN wins
                second = vmax[i]
            p[i] = p[i] - step_size * (m[i] / (np.sqrt(second) / bias_correction2_sqrt + eps))


@dispatch.register("adam_update", "numba")
def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
                weight_decay, amsgrad, maximize, decoupled_weight_decay):
    """``adam_update_numpy`` in one pass; arrays it cannot view as one flat block of one
    dtype take the reference."""
    arrays = (param, grad, exp_avg, exp_avg_sq) + ((max_exp_avg_sq,) if amsgrad else ())
    if not all(a.flags.c_contiguous and a.dtype == param.dtype for a in arrays):
        return adam_update_numpy(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr,
                                 beta1, beta2, eps, weight_decay, amsgrad, maximize,
                                 decoupled_weight_decay)
    scalar = param.dtype.type
    flat = [a.reshape(-1) for a in (param, grad, exp_avg, exp_avg_sq)]
    vmax = max_exp_avg_sq.reshape(-1) if amsgrad else flat[0][:1]
    _adam(*flat, vmax, scalar(lr / (1 - beta1 ** step)), scalar((1 - beta2 ** step) ** 0.5),
          scalar(1 - beta1), scalar(beta2), scalar(1 - beta2), scalar(eps), scalar(weight_decay),
          scalar(1 - lr * weight_decay), amsgrad, maximize, decoupled_weight_decay)


@numba.njit(cache=True, parallel=True)
def _rmsprop(p_all, g_all, v_all, m_all, b_all, lr, alpha, keep, eps, weight_decay, momentum,
             centered, maximize):
    # p, g, v (and m when centered, b with momentum; else one unused element): 1-D, one dtype
    for block in numba.prange((p_all.size + _BLOCK - 1) // _BLOCK):
        lo, hi = block * _BLOCK, min(p_all.size, (block + 1) * _BLOCK)
        p, g, v = p_all[lo:hi], g_all[lo:hi], v_all[lo:hi]
        m = m_all[lo:hi] if centered else m_all
        b = b_all[lo:hi] if momentum > 0 else b_all
        for i in range(hi - lo):
            d = -g[i] if maximize else g[i]
            if weight_decay != 0:
                d = d + weight_decay * p[i]
            v[i] = v[i] * alpha + keep * d * d
            if centered:
                m[i] = m[i] + keep * (d - m[i])
                avg = np.sqrt(v[i] - m[i] * m[i]) + eps
            else:
                avg = np.sqrt(v[i]) + eps
            if momentum > 0:
                b[i] = b[i] * momentum + d / avg
                p[i] = p[i] - lr * b[i]
            else:
                p[i] = p[i] - lr * (d / avg)


@dispatch.register("rmsprop_update", "numba")
def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                   weight_decay, momentum, centered, maximize):
    """``rmsprop_update_numpy`` in one pass; arrays it cannot view as one flat block of one
    dtype take the reference."""
    arrays = ((param, grad, square_avg) + ((grad_avg,) if centered else ())
              + ((momentum_buffer,) if momentum > 0 else ()))
    if not all(a.flags.c_contiguous and a.dtype == param.dtype for a in arrays):
        return rmsprop_update_numpy(param, grad, square_avg, grad_avg, momentum_buffer, lr,
                                    alpha, eps, weight_decay, momentum, centered, maximize)
    scalar = param.dtype.type
    flat = [a.reshape(-1) for a in (param, grad, square_avg)]
    unused = flat[0][:1]
    _rmsprop(*flat, grad_avg.reshape(-1) if centered else unused,
             momentum_buffer.reshape(-1) if momentum > 0 else unused, scalar(lr), scalar(alpha),
             scalar(1 - alpha), scalar(eps), scalar(weight_decay), scalar(momentum), centered,
             maximize)
