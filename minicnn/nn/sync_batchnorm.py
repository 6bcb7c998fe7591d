"""``SyncBatchNorm``: batch norm whose statistics cover the batches of all processes.

With data-parallel training each process sees only its own B images.  Plain BatchNorm
normalises each process's batch with that batch's statistics, so N processes with batch B
train like N separate batches of B.  SyncBatchNorm all-reduces the per-channel sums, so
they train exactly like one process with batch N*B -- running statistics included.

Forward (M = values per channel over all processes, a sum over processes written sum_p):
each process computes its own mean_p and var_p over its M_p values with the same kernel
as BatchNorm (``batch_norm_stats``), and the processes combine them:
    M = sum_p M_p,   mean = sum_p M_p mean_p / M,
    var = sum_p M_p (var_p + (mean_p - mean)^2) / M
(each process's squared deviations from its own mean, moved to the global mean: Chan,
Golub and LeVeque's pairwise update).  Never sum(x^2) - M*mean^2, which loses every
digit when the mean is large.  With one process this is BatchNorm's arithmetic exactly.

Backward: dL/dx = invstd * (g_hat - mean(g_hat) - xhat * mean(g_hat * xhat)), g_hat = g*weight,
where the two means run over all processes: x on one process moves the mean and variance
that every process normalises with.  So sum(g) and sum(g * xhat) are all-reduced too.
The weight and bias gradients stay local sums: DistributedDataParallel averages them.

Communication per layer: two all-reduces in forward ((C+1) and C numbers), one in backward
(2C numbers).  Evaluation uses the running statistics and needs none.
"""
import numpy as np

from .. import backend, dispatch
from .. import distributed as dist
from ..autograd import Function
from .module import named_errors
from .normalization import _BatchNorm


class SyncBatchNormFunction(Function):
    """Training-mode batch norm over the union of every process's batch.

    The arithmetic is functional/norm.py's BatchNorm (the same kernels), with each
    process's statistics and sums combined over all processes: with one process the
    results are identical, bit for bit.
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
        self.count = int(totals[c])
        if self.count <= 1:
            raise ValueError("minicnn: sync_batch_norm: expected more than 1 value per channel "
                             f"over all processes when training, got {self.count}")
        mean = totals[:c] / self.count
        squares = m * (var_p + (mean_p - mean) ** 2)     # (C,): squared deviations from mean
        dist.all_reduce(squares)
        mean, var = mean.astype(x.dtype), (squares / self.count).astype(x.dtype)
        # running statistics, in place (the caller's buffers): unbiased var of the global count
        _move_towards(self.running_mean, mean, self.momentum)
        _move_towards(self.running_var, var * (self.count / (self.count - 1)), self.momentum)
        self.invstd = 1 / xp.sqrt(var + self.eps)                # (C,)
        self.weight = weight
        # x and the statistics are saved, not xhat: backward recomputes it, as BatchNorm's does
        self.x, self.mean = x, mean
        return dispatch.kernel("batch_norm_forward", x)(x, mean, self.invstd, weight, bias)

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


def _move_towards(running, value, momentum):
    """running <- (1 - momentum) * running + momentum * value, in place (None: no buffer)."""
    if running is not None:
        running[...] = (1 - momentum) * running + momentum * value


def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, momentum=0.1,
                    eps=1e-5):
    """Training-mode batch norm with statistics over all processes (every process must call
    it, in the same order).  Arguments as ``functional.batch_norm``."""
    c = input.shape[1] if input.ndim >= 2 else None
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if c is None or t is not None and t.shape != (c,):
            raise ValueError(f"minicnn: sync_batch_norm: expected input (N, C, ...) and {name} "
                             f"of shape (C,), got input {input.shape} and {name} "
                             f"{None if t is None else t.shape}")
    return SyncBatchNormFunction.apply(
        input, weight, bias, momentum=float(momentum), eps=float(eps),
        running_mean=None if running_mean is None else running_mean.data,
        running_var=None if running_var is None else running_var.data)


class SyncBatchNorm(_BatchNorm):
    """``BatchNorm1d``/``BatchNorm2d`` whose training statistics cover all processes
    (PyTorch's name).  In eval mode, or with a single process, it is plain batch norm."""
    expected_dims = (2, 3, 4)

    def forward(self, x):
        shape_ok = x.ndim in self.expected_dims and x.shape[1] == self.num_features
        if not (self.training and shape_ok and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)     # eval, one process (or a bad shape: its error)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:     # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        track = self.track_running_stats
        return named_errors(self, sync_batch_norm, x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module):
        """Replace every BatchNorm1d/2d in ``module`` by a SyncBatchNorm holding the *same*
        parameter and buffer tensors (an optimizer built earlier stays valid); returns the
        converted module (a new object only when ``module`` itself is a batch norm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, bias=module.bias is not None)
            converted._parameters.update(module._parameters)
            converted._buffers.update(module._buffers)
            converted._non_persistent_buffers.update(module._non_persistent_buffers)
            converted.train(module.training)
            return converted
        for name, child in module._modules.items():
            if child is not None:         # in place in the table: the children keep their order
                module._modules[name] = cls.convert_sync_batchnorm(child)
        return module
