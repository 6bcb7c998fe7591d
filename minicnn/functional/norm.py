"""Normalisation: batch_norm and local_response_norm.

Both work on any (N, C, ...) input; the channel axis is always axis 1.
The statistics use ``xp`` reductions only, so the same code runs on NumPy and CuPy.
"""
import numbers

import numpy as np

from .. import backend, dispatch
from ..autograd import Function, Tensor
from .elementwise import check_dtype


def _channel_axes(ndim):
    """Every axis but the channel axis: (N, C) -> (0,); (N, C, H, W) -> (0, 2, 3)."""
    return (0,) + tuple(range(2, ndim))


def _per_channel(v, ndim):
    """A (C,) vector reshaped to broadcast over an (N, C, ...) array."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


# ----- batch norm ------------------------------------------------------------
# The elementwise halves of batch norm; the per-channel statistics are xp reductions.
# On the GPU each is one CUDA kernel (kernels/norm.cu) instead of several array passes.
@dispatch.register("batch_norm_stats", "numpy")
def batch_norm_stats_numpy(x):
    """x: (N, C, ...) with N*H*W > 0 -> mean, var: (C,), var biased (1/M), in x's dtype.
    Two passes (the mean first, then the squared deviations from it): exact even when
    the mean is large next to the spread, where E[x^2] - E[x]^2 would cancel."""
    axes = _channel_axes(x.ndim)
    mean = x.mean(axis=axes)
    xc = x - _per_channel(mean, x.ndim)
    return mean, (xc * xc).mean(axis=axes)


@dispatch.register("batch_norm_backward_sums", "numpy")
def batch_norm_backward_sums_numpy(grad_out, xhat):
    """grad_out, xhat: (N, C, ...) -> sum(grad_out), sum(grad_out * xhat) per channel: (C,).
    The bias and weight gradients, and the two means batch norm's input gradient needs."""
    axes = _channel_axes(grad_out.ndim)
    return grad_out.sum(axis=axes), (grad_out * xhat).sum(axis=axes)


@dispatch.register("batch_norm_forward", "numpy")
def batch_norm_forward_numpy(x, mean, invstd, weight=None, bias=None):
    """x: (N, C, ...); mean, invstd, weight, bias: (C,) -> out = xhat * weight + bias, like x,
    with xhat = (x - mean) * invstd; xhat itself without weight and bias (backward's use)."""
    xhat = (x - _per_channel(mean, x.ndim)) * _per_channel(invstd, x.ndim)    # unit variance
    out = xhat if weight is None else xhat * _per_channel(weight, x.ndim)
    return out if bias is None else out + _per_channel(bias, x.ndim)


@dispatch.register("batch_norm_backward", "numpy")
def batch_norm_backward_numpy(grad_out, xhat, scale, mean_g=None, mean_gxhat=None):
    """grad_out, xhat: (N, C, ...); scale = invstd * weight, mean_g, mean_gxhat: (C,)
    -> (grad_out - mean_g - xhat * mean_gxhat) * scale   (eval: the means are None = 0)."""
    ndim = grad_out.ndim
    gx = grad_out if mean_g is None else grad_out - _per_channel(mean_g, ndim)
    if mean_gxhat is not None:
        gx = gx - xhat * _per_channel(mean_gxhat, ndim)
    return gx * _per_channel(scale, ndim)


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel.

    Training: mean/var are the batch statistics (var biased, 1/M), and the running
    statistics are updated in place (var unbiased, 1/(M-1)), as PyTorch does.
    Eval: mean/var are the running statistics.
    """
    settings = ("training", "momentum", "eps", "running_mean", "running_var")

    def forward(self, x, weight, bias):
        # x: (N, C, ...); weight, bias, running stats: (C,); M = values per channel
        xp = backend.get_array_module(x)
        self.count = x.shape[0] * int(np.prod(x.shape[2:]))   # not x.size // C: C may be 0
        if self.training and self.count == 0:
            # an empty batch has no statistics; PyTorch leaves the running ones alone too
            mean, var = xp.zeros(x.shape[1], x.dtype), xp.ones(x.shape[1], x.dtype)
        elif self.training:
            mean, var = dispatch.kernel("batch_norm_stats", x)(x)
            m = self.momentum
            if self.running_mean is not None:   # in place: the caller's buffers change
                self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            if self.running_var is not None:
                unbiased = var * (self.count / (self.count - 1))
                self.running_var[...] = (1 - m) * self.running_var + m * unbiased
        else:
            mean, var = self.running_mean.astype(x.dtype), self.running_var.astype(x.dtype)
        self.invstd = 1 / xp.sqrt(var + self.eps)                # (C,)
        # Save x and the statistics, not xhat: x is kept alive by the graph anyway, and
        # backward recomputes xhat in one pass, so each layer holds one activation less.
        self.x, self.mean, self.weight = x, mean, weight
        return dispatch.kernel("batch_norm_forward", x)(x, mean, self.invstd, weight, bias)

    def backward(self, g):
        # g: (N, C, ...).  Closed form: with g_hat = dL/dxhat = g * weight,
        #   training: dL/dx = invstd * (g_hat - mean(g_hat) - xhat * mean(g_hat * xhat))
        #   (the two means are the paths through the batch mean and variance);
        #   eval:     dL/dx = invstd * g_hat (the statistics are constants).
        need_x, need_w, need_b = self.needs_input_grad
        xhat = dispatch.kernel("batch_norm_forward", self.x)(self.x, self.mean, self.invstd)
        sums_needed = need_w or need_b or (need_x and self.training)   # eval's gx needs none
        sum_g, sum_gx = (dispatch.kernel("batch_norm_backward_sums", g)(g, xhat)   # (C,) each
                         if sums_needed else (None, None))
        gx = None
        if need_x:
            scale = self.invstd if self.weight is None else self.invstd * self.weight   # (C,)
            count = max(self.count, 1)       # an empty batch: the sums are 0 (and gx is empty)
            means = (sum_g / count, sum_gx / count) if self.training else ()
            gx = dispatch.kernel("batch_norm_backward", g)(g, xhat, scale, *means)
        return gx, (sum_gx if need_w else None), (sum_g if need_b else None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C) or (N, C, H, W) (any (N, C, ...)), as
    ``torch.nn.functional.batch_norm``.  In training, ``running_mean``/``running_var``
    (Tensors or None) are updated in place with ``momentum``.  ``momentum=None``
    (PyTorch's cumulative average) is the BatchNorm module's business: it passes the
    factor 1/num_batches_tracked here."""
    if input.ndim < 2:
        raise ValueError(f"minicnn: batch_norm: expected input of shape (N, C, ...), got {input.shape}")
    check_dtype("batch_norm", input, what="a floating-point input")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"minicnn: batch_norm: expected {name} of shape ({c},) for input "
                             f"{input.shape} with {c} channels, got {t.shape}")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("minicnn: batch_norm: running_mean and running_var must be given "
                         "in evaluation mode (training=False)")
    if training and input.shape[0] * np.prod(input.shape[2:]) == 1:
        # one value has no variance (an empty batch is fine: its output is empty too)
        raise ValueError("minicnn: batch_norm: expected more than 1 value per channel when "
                         f"training, got input of shape {input.shape}")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"minicnn: batch_norm: momentum must be a number, got {momentum!r}")
    return BatchNorm.apply(input, weight, bias, training=bool(training),
                           momentum=float(momentum), eps=float(eps),
                           running_mean=None if running_mean is None else running_mean.data,
                           running_var=None if running_var is None else running_var.data)


# ----- local response norm -----------------------------------------------------
def _window_sum(a, before, after):
    """out[:, c] = sum of a[:, c - before : c + after + 1] along channels, zeros outside.

    a: (N, C, S).  A loop over the before + after + 1 offsets of the window: short,
    exact, and with no scatter.
    """
    xp = backend.get_array_module(a)
    n, c, s = a.shape
    padded = xp.zeros((n, c + before + after, s), dtype=a.dtype)
    padded[:, before:before + c] = a
    out = padded[:, 0:c].copy()
    for offset in range(1, before + after + 1):
        out += padded[:, offset:offset + c]
    return out


@dispatch.register("lrn_forward", "numpy")
def lrn_forward_numpy(a, size, alpha=1e-4, beta=0.75, k=1.0):
    """a: (N, C, S) -> out = a * s^-beta and s = k + alpha/size * (window sum of a^2)."""
    s = k + (alpha / size) * _window_sum(a * a, size // 2, (size - 1) // 2)
    return a * s ** -beta, s


@dispatch.register("lrn_backward", "numpy")
def lrn_backward_numpy(grad_out, a, out, s, size, alpha=1e-4, beta=0.75):
    """grad_out and lrn_forward's a, out, s: (N, C, S) -> the gradient of a.

    b_c depends on a_j through a_c itself and, for every c whose window holds j, through
    s_c (ds_c/da_j = 2 alpha/n a_j).  Summing over "windows that hold j" is a window sum
    with the before/after extents swapped:
      dL/da_j = g_j s_j^-beta - 2 alpha beta/n * a_j * sum_{c: j in window(c)} g_c a_c s_c^(-beta-1)
    """
    t = grad_out * out / s                    # g_c a_c s_c^(-beta-1), as out = a s^-beta
    cross = _window_sum(t, (size - 1) // 2, size // 2)
    return grad_out * s ** -beta - (2 * alpha * beta / size) * a * cross


class LocalResponseNorm(Function):
    """b_c = a_c * s_c^-beta with s_c = k + alpha/n * sum_{c' in window(c)} a_c'^2.

    window(c) = [c - n//2, c + (n-1)//2] (asymmetric for even n); zero padding, and
    the divisor stays n at the edges, as in PyTorch.
    """
    settings = ("size", "alpha", "beta", "k")

    def forward(self, a):
        # a: (N, C, ...) -> flattened to (N, C, S) for the channel sums; out: like a
        self.shape = a.shape
        self.a = a.reshape(a.shape[:2] + (int(np.prod(a.shape[2:])),))   # not -1: N or C may be 0
        self.out, self.s = dispatch.kernel("lrn_forward", a)(self.a, self.size, self.alpha,
                                                             self.beta, self.k)
        return self.out.reshape(self.shape)

    def backward(self, g):
        g = g.reshape(self.a.shape)
        ga = dispatch.kernel("lrn_backward", g)(g, self.a, self.out, self.s, self.size,
                                                self.alpha, self.beta)
        return ga.reshape(self.shape)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels, as ``torch.nn.functional.local_response_norm``.

    The AlexNet paper's layer (k=2, n=5, alpha=1e-4 NOT divided by n) is
    ``local_response_norm(x, 5, alpha=5 * 1e-4, beta=0.75, k=2.0)``.
    """
    if not isinstance(input, Tensor) or input.ndim < 3:
        shape = input.shape if isinstance(input, Tensor) else type(input).__name__
        raise ValueError("minicnn: local_response_norm: expected input of 3 or more dims "
                         f"(N, C, H, W), got {shape}")
    check_dtype("local_response_norm", input, what="a floating-point input")
    if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
        raise ValueError(f"minicnn: local_response_norm: size must be a positive integer, got {size!r}")
    return LocalResponseNorm.apply(input, size=int(size), alpha=float(alpha),
                                   beta=float(beta), k=float(k))
