"""Normalisation: batch_norm and local_response_norm.

Both work on any (N, C, ...) input; the channel axis is always axis 1.
The statistics use ``xp`` reductions only, so the same code runs on NumPy and CuPy.
"""
import numbers

import numpy as np

from .. import backend, dispatch
from .. import distributed as dist
from ..autograd import Function, InvalidDtypeError, Tensor
from .arguments import check_dtype
from . import elementwise as E
from .elementwise import to_dtype


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
        count = x.shape[0] * int(np.prod(x.shape[2:]))   # not x.size // C: C may be 0
        if self.training and count == 0:
            # an empty batch has no statistics; PyTorch leaves the running ones alone too
            mean, var = xp.zeros(x.shape[1], x.dtype), xp.ones(x.shape[1], x.dtype)
        elif self.training:
            mean, var = dispatch.kernel("batch_norm_stats", x)(x)
            update_running_stats(self.running_mean, self.running_var, mean, var, count,
                                 self.momentum)
        else:
            mean, var = self.running_mean.astype(x.dtype), self.running_var.astype(x.dtype)
        invstd = 1 / xp.sqrt(var + self.eps)                     # (C,)
        # Save x and the statistics, not xhat: x is kept alive by the graph anyway, and
        # backward recomputes xhat in one pass, so each layer holds one activation less.
        self.save_for_backward(x=x, mean=mean, invstd=invstd, weight=weight, count=count)
        return dispatch.kernel("batch_norm_forward", x)(x, mean, invstd, weight, bias)

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

    def backward_graph(self, g):
        # backward's closed form on Tensors, the statistics recomputed from x so that their
        # derivatives (training) are in the graph too
        need_x, need_w, need_b = self.needs_input_grad
        axes, ndim = _channel_axes(g.ndim), g.ndim
        x = self.input_tensor(0, self.x)
        if self.training:
            centred = x - E.mean(x, dim=axes, keepdim=True)
            invstd = (E.mean(centred * centred, dim=axes, keepdim=True) + self.eps) ** -0.5
        else:
            centred = x - Tensor(_per_channel(self.mean, ndim))
            invstd = Tensor(_per_channel(self.invstd, ndim))
        xhat = centred * invstd
        gx = None
        if need_x:
            g_hat = g if self.weight is None else g * _per_channel(self.input_tensor(1, self.weight), ndim)
            if self.training:
                g_hat = (g_hat - E.mean(g_hat, dim=axes, keepdim=True)
                         - xhat * E.mean(g_hat * xhat, dim=axes, keepdim=True))
            gx = g_hat * invstd
        gw = E.sum(g * xhat, dim=axes) if need_w else None
        return gx, gw, (E.sum(g, dim=axes) if need_b else None)


def update_running_stats(running_mean, running_var, mean, var, count, momentum):
    """The running statistics move towards a batch's, in place (the caller's buffers):
    running <- (1 - momentum) * running + momentum * batch's, with the variance unbiased
    (count values: var * count / (count - 1)), as PyTorch does.  None: no buffer."""
    if running_mean is not None:
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean
    if running_var is not None:
        running_var[...] = (1 - momentum) * running_var + momentum * (var * (count / (count - 1)))


def _check_batch_norm_args(op, input, running_mean, running_var, weight, bias, momentum):
    """What batch_norm and sync_batch_norm both require of their arguments."""
    if input.ndim < 2:
        raise ValueError(f"minicnn: {op}: expected input of shape (N, C, ...), got {input.shape}")
    check_dtype(op, input, what="a floating-point input")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and t.shape != (c,):
            raise ValueError(f"minicnn: {op}: expected {name} of shape ({c},) for input "
                             f"{input.shape} with {c} channels, got {t.shape}")
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"minicnn: {op}: momentum must be a number, got {momentum!r}")
    # PyTorch's rule on the CPU: the parameters have the input's dtype, or float32 for a
    # float16 input (computed in float32, the output float16); any other mix is refused
    # (it gave gradients in another dtype than their tensors)
    dtypes = {name: t.dtype for name, t in (("running_mean", running_mean),
              ("running_var", running_var), ("weight", weight), ("bias", bias)) if t is not None}
    allowed = ({input.dtype, np.dtype(np.float32)} if input.dtype == np.float16
               else {input.dtype})
    if len(set(dtypes.values())) > 1 or not set(dtypes.values()) <= allowed:
        raise InvalidDtypeError(
            f"minicnn: {op}: expected weight, bias and running statistics of one dtype, the "
            f"input's ({input.dtype}){' or float32' if input.dtype == np.float16 else ''}, got "
            + ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items()))


def _in_float32(input, weight):
    """True for a float16 input with float32 parameters: computed in float32, as PyTorch."""
    return input.dtype == np.float16 and weight is not None and weight.dtype == np.float32


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation, as ``torch.nn.functional.batch_norm``.

    Over (N, C) or (N, C, H, W) (any (N, C, ...)), per channel (dim 1):

        y = (x - mean) / sqrt(var + eps) * weight + bias

    In training, mean and var are the batch's, over every dim but the channels (var biased,
    1/M), and ``running_mean``/``running_var`` (Tensors or None) are updated in place with
    ``momentum``: running <- (1 - momentum) * running + momentum * batch's, the variance
    unbiased (1/(M-1)), as PyTorch does.  In evaluation the running statistics normalise.
    ``momentum=None`` (PyTorch's cumulative average) is the BatchNorm module's business: it
    passes the factor 1/num_batches_tracked here.

    Args:
        input (Tensor): floating-point values, channels on dim 1.
        running_mean (Tensor or None): the running mean per channel, (C,); updated in place
            in training, used in evaluation (None: not tracked).
        running_var (Tensor or None): the running (unbiased) variance per channel, (C,).
        weight (Tensor, optional): the learned scale gamma, (C,). Default: ``None`` (1)
        bias (Tensor, optional): the learned shift beta, (C,). Default: ``None`` (0)
        training (bool, optional): use (and track) the batch statistics. Default: ``False``
        momentum (float, optional): how far the running statistics move towards the batch's.
            Default: ``0.1``
        eps (float, optional): added to the variance, for numerical safety.
            Default: ``1e-5``

    Shape:
        - Input: (N, C, *): (N, C), (N, C, L), (N, C, H, W), ...
        - Output: (N, C, *), the same shape.

    Example::

        >>> x = mc.tensor([[1.0, 10.0], [3.0, 20.0], [5.0, 30.0], [7.0, 40.0]], dtype=np.float64)
        >>> running_mean = mc.tensor([0.0, 0.0], dtype=np.float64)
        >>> running_var = mc.tensor([1.0, 1.0], dtype=np.float64)
        >>> y = F.batch_norm(x, running_mean, running_var, training=True)
        >>> print(y.numpy().round(4))
        [[-1.3416 -1.3416]
         [-0.4472 -0.4472]
         [ 0.4472  0.4472]
         [ 1.3416  1.3416]]
        >>> running_mean          # moved 10% of the way to the batch mean [4, 25]
        tensor([0.4, 2.5], dtype=float64)
        >>> F.batch_norm(x, running_mean, running_var).shape          # evaluation
        (4, 2)
    """
    _check_batch_norm_args("batch_norm", input, running_mean, running_var, weight, bias, momentum)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("minicnn: batch_norm: running_mean and running_var must be given "
                         "in evaluation mode (training=False)")
    if training and input.shape[0] * np.prod(input.shape[2:]) == 1:
        # one value has no variance (an empty batch is fine: its output is empty too)
        raise ValueError("minicnn: batch_norm: expected more than 1 value per channel when "
                         f"training, got input of shape {input.shape}")
    params = [t for t in (weight, bias, running_mean, running_var) if t is not None]
    if params and _in_float32(input, params[0]):     # the casts stay in the graph
        return to_dtype(batch_norm(to_dtype(input, np.float32), running_mean, running_var,
                                   weight, bias, training, momentum, eps), np.float16)
    return BatchNorm.apply(input, weight, bias, training=bool(training),
                           momentum=float(momentum), eps=float(eps),
                           running_mean=None if running_mean is None else running_mean.data,
                           running_var=None if running_var is None else running_var.data)


# ----- batch norm over every process's batch -------------------------------------
class SyncBatchNorm(Function):
    """Training-mode batch norm over the union of every process's batch
    (``nn.SyncBatchNorm``; minicnn/distributed.py carries the messages).

    With data-parallel training each process sees only its own images; SyncBatchNorm
    all-reduces the per-channel statistics, so N processes with batch B train exactly like
    one process with batch N*B, running statistics included.  The arithmetic is
    BatchNorm's (the same kernels): with one process the results are identical, bit for bit.

    Forward (M = values per channel over all processes, sum_p a sum over processes): each
    process computes mean_p and var_p over its M_p values, and the processes combine them:
        M = sum_p M_p,   mean = sum_p M_p mean_p / M,
        var = sum_p M_p (var_p + (mean_p - mean)^2) / M
    (each process's squared deviations from its own mean, moved to the global mean: Chan,
    Golub and LeVeque's pairwise update).  Never sum(x^2) - M*mean^2, which loses every
    digit when the mean is large.

    Backward: BatchNorm's closed form, whose two means, of g_hat and g_hat * xhat, run over
    all processes: x on one process moves the statistics every process normalises with.
    The weight and bias gradients stay local sums (DistributedDataParallel averages them).
    Messages per layer: two all-reduces in forward ((C+1) and C numbers), one in backward (2C).
    """
    settings = ("momentum", "eps", "running_mean", "running_var")

    def forward(self, x, weight, bias):
        # x: (N, C, ...); weight, bias, running stats: (C,)
        xp = backend.get_array_module(x)
        c = x.shape[1]
        m = x.size // c if c else 0                      # this process's values per channel
        if m:
            mean_p, var_p = (v.astype(np.float64) for v in
                             dispatch.kernel("batch_norm_stats", x)(x))         # (C,) each
        else:                                            # an empty batch on this process
            mean_p = var_p = xp.zeros(c, np.float64)
        # this process's sums and count in one message; float64 holds any count exactly
        totals = xp.concatenate([mean_p * m, xp.asarray([m], dtype=np.float64)])   # (C+1,)
        dist.all_reduce(totals)
        count = int(totals[c])
        if count <= 1:
            raise ValueError("minicnn: sync_batch_norm: expected more than 1 value per channel "
                             f"over all processes when training, got {count}")
        mean = totals[:c] / count
        squares = m * (var_p + (mean_p - mean) ** 2)     # (C,): squared deviations from mean
        dist.all_reduce(squares)
        mean, var = mean.astype(x.dtype), (squares / count).astype(x.dtype)
        update_running_stats(self.running_mean, self.running_var, mean, var, count, self.momentum)
        invstd = 1 / xp.sqrt(var + self.eps)                     # (C,)
        # x and the statistics are saved, not xhat: backward recomputes it, as BatchNorm's does
        self.save_for_backward(x=x, mean=mean, invstd=invstd, weight=weight, count=count)
        return dispatch.kernel("batch_norm_forward", x)(x, mean, invstd, weight, bias)

    def backward(self, g):
        # g: (N, C, ...).  sum(g), sum(g * xhat): this process's (for weight and bias), then
        # all processes' (for x: the paths through the shared mean and variance).
        xp = backend.get_array_module(g)
        c = g.shape[1]
        need_x, need_w, need_b = self.needs_input_grad
        xhat = dispatch.kernel("batch_norm_forward", self.x)(self.x, self.mean, self.invstd)
        sum_g, sum_gx = dispatch.kernel("batch_norm_backward_sums", g)(g, xhat)  # (C,) each
        gx = None
        if need_x:
            totals = xp.concatenate([sum_g, sum_gx])                          # (2C,)
            dist.all_reduce(totals)
            scale = self.invstd if self.weight is None else self.invstd * self.weight
            gx = dispatch.kernel("batch_norm_backward", g)(
                g, xhat, scale, totals[:c] / self.count, totals[c:] / self.count)
        return gx, (sum_gx if need_w else None), (sum_g if need_b else None)


def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, momentum=0.1,
                    eps=1e-5):
    """Training-mode batch norm with statistics over all processes.

    Every process must call it, in the same order.  Arguments as ``batch_norm``.  The op of
    ``nn.SyncBatchNorm``.  With data-parallel training each process sees only its own
    images; this op all-reduces the per-channel statistics (minicnn.distributed carries the
    messages), so N processes with batch B train exactly like one process with batch N*B,
    running statistics included.  With one process it gives ``batch_norm``'s results, bit
    for bit.  It needs a process group (``minicnn.distributed.init_process_group``).

    Args:
        input (Tensor): floating-point values, channels on dim 1.
        running_mean (Tensor or None): the running mean per channel, (C,); updated in place
            in training, used in evaluation (None: not tracked).
        running_var (Tensor or None): the running (unbiased) variance per channel, (C,).
        weight (Tensor, optional): the learned scale gamma, (C,). Default: ``None`` (1)
        bias (Tensor, optional): the learned shift beta, (C,). Default: ``None`` (0)
        momentum (float, optional): how far the running statistics move towards the batch's.
            Default: ``0.1``
        eps (float, optional): added to the variance, for numerical safety.
            Default: ``1e-5``

    Shape:
        - Input: (N, C, *): (N, C), (N, C, L), (N, C, H, W), ...
        - Output: (N, C, *), the same shape.

    Example::

        >>> import minicnn.distributed as dist
        >>> dist.init_process_group("mpi")      # without mpiexec: a world of one process
        >>> x = mc.tensor([[1.0, 10.0], [3.0, 20.0], [5.0, 30.0], [7.0, 40.0]], dtype=np.float64)
        >>> y = F.sync_batch_norm(x, None, None)
        >>> print(y.numpy().round(4))
        [[-1.3416 -1.3416]
         [-0.4472 -0.4472]
         [ 0.4472  0.4472]
         [ 1.3416  1.3416]]
        >>> dist.destroy_process_group()
    """
    _check_batch_norm_args("sync_batch_norm", input, running_mean, running_var, weight, bias,
                           momentum)
    params = [t for t in (weight, bias, running_mean, running_var) if t is not None]
    if params and _in_float32(input, params[0]):     # the casts stay in the graph
        return to_dtype(sync_batch_norm(to_dtype(input, np.float32), running_mean, running_var,
                                        weight, bias, momentum, eps), np.float16)
    return SyncBatchNorm.apply(
        input, weight, bias, momentum=float(momentum), eps=float(eps),
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
        flat = a.reshape(a.shape[:2] + (int(np.prod(a.shape[2:])),))   # not -1: N or C may be 0
        out, s = dispatch.kernel("lrn_forward", a)(flat, self.size, self.alpha, self.beta, self.k)
        self.save_for_backward(a=flat, out=out, s=s)
        return out.reshape(a.shape)

    def backward(self, g):
        g = g.reshape(self.a.shape)
        ga = dispatch.kernel("lrn_backward", g)(g, self.a, self.out, self.s, self.size,
                                                self.alpha, self.beta)
        return ga.reshape(self.input_shapes[0])

    def backward_graph(self, g):
        # lrn_backward_numpy's formula on Tensors, with s and out recomputed from a
        a = self.input_tensor(0, self.a.reshape(self.input_shapes[0])).reshape(self.a.shape)
        g = g.reshape(self.a.shape)
        before, after = self.size // 2, (self.size - 1) // 2
        s = self.k + (self.alpha / self.size) * ChannelWindowSum.apply(a * a, before=before, after=after)
        t = g * a * s ** (-self.beta - 1)
        cross = ChannelWindowSum.apply(t, before=after, after=before)
        ga = g * s ** -self.beta - (2 * self.alpha * self.beta / self.size) * a * cross
        return ga.reshape(self.input_shapes[0])


class ChannelWindowSum(Function):
    """a (N, C, S) -> the sum over channels c - before .. c + after at each c (``_window_sum``):
    local response norm's window, as an op for its double backward.  Its transpose, and so
    its backward, is the window sum with ``before`` and ``after`` swapped."""
    settings = ("before", "after")

    def forward(self, a):
        return _window_sum(a, self.before, self.after)

    def backward_graph(self, g):
        return ChannelWindowSum.apply(g, before=self.after, after=self.before)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels, as PyTorch's ``local_response_norm``.

    b_c = a_c * (k + alpha/size * sum of a^2 over the ``size`` channels around c) ** -beta,
    the window [c - size//2, c + (size-1)//2] (zeros beyond the edges; the divisor stays
    ``size`` there too, as in PyTorch).

    The AlexNet paper's layer (k=2, n=5, alpha=1e-4 NOT divided by n) is
    ``local_response_norm(x, 5, alpha=5 * 1e-4, beta=0.75, k=2.0)``.

    Args:
        input (Tensor): floating-point values, channels on dim 1, at least 3-D.
        size (int): how many neighbouring channels to sum over.
        alpha (float, optional): the multiplicative factor (divided by ``size``).
            Default: ``1e-4``
        beta (float, optional): the exponent. Default: ``0.75``
        k (float, optional): the additive constant. Default: ``1.0``

    Shape:
        - Input: (N, C, *), at least 3-D: (N, C, L), (N, C, H, W), ...
        - Output: (N, C, *), the same shape.

    Example::

        >>> x = mc.tensor(np.ones((1, 3, 1, 1)))
        >>> y = F.local_response_norm(x, size=2)
        >>> y.shape
        (1, 3, 1, 1)
        >>> print(y.numpy().ravel().round(6))     # channel 0's window [-1, 0]: zero padding
        [0.999963 0.999925 0.999925]
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
