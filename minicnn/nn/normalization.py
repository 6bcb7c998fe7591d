"""Normalisation layers: BatchNorm1d/2d and LocalResponseNorm."""
import numpy as np

from .. import functional as F
from ..autograd import Tensor
from . import init
from .module import Module, describe, empty_array, named_errors, new_parameter


SHAPES = {2: "(N, {C})", 3: "(N, {C}, L)", 4: "(N, {C}, H, W)"}   # for error messages


class _BatchNorm(Module):
    """Normalise each channel over the batch (and space), then scale and shift.

    Training: batch statistics; the running mean/var buffers move towards them by
    ``momentum`` (``None``: a cumulative average over all batches seen so far).
    Eval: the running statistics.  ``num_batches_tracked`` counts training batches.
    ``affine``: learn a per-channel scale (``weight``) and shift (``bias``; ``bias=False``
    keeps only the scale).
    """
    expected_dims = ()
    _optional_state_keys = ("num_batches_tracked",)   # old checkpoints lack it

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = new_parameter((num_features,), dtype, device)
            self.register_parameter("bias", new_parameter((num_features,), dtype, device)
                                    if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(empty_array((num_features,), dtype, device)))
            self.register_buffer("running_var", Tensor(empty_array((num_features,), dtype, device)))
            self.register_buffer("num_batches_tracked", Tensor(empty_array((), np.int64, device)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim not in self.expected_dims or x.shape[1] != self.num_features:
            shapes = " or ".join(SHAPES[d].format(C=self.num_features) for d in self.expected_dims)
            raise ValueError(f"{describe(self)}: expected input shaped {shapes}, got {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:     # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        track = not self.training or self.track_running_stats
        running = (self.running_mean, self.running_var) if track else (None, None)
        if self._over_all_processes():
            return named_errors(self, F.sync_batch_norm, x, *running, self.weight, self.bias,
                                factor, self.eps)
        # without running statistics, batch statistics are used in eval mode too
        use_batch_stats = self.training or self.running_mean is None
        return named_errors(self, F.batch_norm, x, *running, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def _over_all_processes(self):
        """Whether the batch statistics cover every process's batch (SyncBatchNorm)."""
        return False

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over N, H and W.

    As ``torch.nn.BatchNorm2d``; the layer around ``F.batch_norm``.

    Each channel is normalised over the batch (and space), then scaled and shifted:

        y = (x - mean) / sqrt(var + eps) * weight + bias

    Training: batch statistics; the running mean/var buffers move towards them by
    ``momentum`` (``None``: a cumulative average over all batches seen so far), the variance
    unbiased as in PyTorch.  Eval (``model.eval()``): the running statistics.
    ``num_batches_tracked`` counts training batches.  ``affine``: learn a per-channel scale
    (``weight``, starting at 1) and shift (``bias``, starting at 0; ``bias=False`` keeps
    only the scale).  Without ``track_running_stats`` the batch statistics are used in eval
    mode too.  Normalising each layer's inputs lets deep networks train with larger learning
    rates and less care for the initial weights (Ioffe and Szegedy, 2015).

    Args:
        num_features (int): C, the number of channels.
        eps (float, optional): added to the variance, for numerical safety.
            Default: ``1e-5``
        momentum (float or None, optional): how far the running statistics move towards each
            batch's; None: a cumulative average. Default: ``0.1``
        affine (bool, optional): learn a per-channel scale and shift. Default: ``True``
        track_running_stats (bool, optional): keep running statistics (buffers
            ``running_mean``, ``running_var``, ``num_batches_tracked``) and use them in eval
            mode. Default: ``True``
        device (str, optional): where the parameters and buffers live, ``'cpu'`` or
            ``'cuda'``. Default: ``None`` (the CPU)
        dtype (numpy dtype, optional): their dtype. Default: ``None`` (float32)
        bias (bool, optional, keyword-only): with ``affine``, learn the shift too; ``False``
            keeps only the scale. Default: ``True``

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C, H, W), the same shape.

    Example::

        >>> bn = nn.BatchNorm2d(3)
        >>> bn
        BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
        >>> x = mc.tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2))
        >>> y = bn(x)                     # training mode: the batch's statistics
        >>> print(y.numpy()[0, 0].round(4))
        [[-1.2288 -1.065 ]
         [-0.9012 -0.7373]]
        >>> print(bn.running_mean.numpy().round(4))     # 10% of the way to the batch means
        [0.75 1.15 1.55]
        >>> bn.eval()(x).shape            # eval mode: the running statistics
        (2, 3, 2, 2)
    """
    expected_dims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per channel over N (and L).

    As ``torch.nn.BatchNorm1d``; the layer around ``F.batch_norm``.  The usual place is
    between a fully-connected layer and its activation.

    Each channel is normalised over the batch (and space), then scaled and shifted:

        y = (x - mean) / sqrt(var + eps) * weight + bias

    Training: batch statistics; the running mean/var buffers move towards them by
    ``momentum`` (``None``: a cumulative average over all batches seen so far), the variance
    unbiased as in PyTorch.  Eval (``model.eval()``): the running statistics.
    ``num_batches_tracked`` counts training batches.  ``affine``: learn a per-channel scale
    (``weight``, starting at 1) and shift (``bias``, starting at 0; ``bias=False`` keeps
    only the scale).  Without ``track_running_stats`` the batch statistics are used in eval
    mode too.  Normalising each layer's inputs lets deep networks train with larger learning
    rates and less care for the initial weights (Ioffe and Szegedy, 2015).

    Args:
        num_features (int): C, the number of channels.
        eps (float, optional): added to the variance, for numerical safety.
            Default: ``1e-5``
        momentum (float or None, optional): how far the running statistics move towards each
            batch's; None: a cumulative average. Default: ``0.1``
        affine (bool, optional): learn a per-channel scale and shift. Default: ``True``
        track_running_stats (bool, optional): keep running statistics (buffers
            ``running_mean``, ``running_var``, ``num_batches_tracked``) and use them in eval
            mode. Default: ``True``
        device (str, optional): where the parameters and buffers live, ``'cpu'`` or
            ``'cuda'``. Default: ``None`` (the CPU)
        dtype (numpy dtype, optional): their dtype. Default: ``None`` (float32)
        bias (bool, optional, keyword-only): with ``affine``, learn the shift too; ``False``
            keeps only the scale. Default: ``True``

    Shape:
        - Input: (N, C) or (N, C, L).
        - Output: the same shape.

    Example::

        >>> bn = nn.BatchNorm1d(2)
        >>> y = bn(mc.tensor([[1.0, 10.0], [3.0, 30.0]]))
        >>> print(y.numpy().round(4))
        [[-1. -1.]
         [ 1.  1.]]
        >>> bn(mc.tensor(np.zeros((4, 2, 7), np.float32))).shape
        (4, 2, 7)
    """
    expected_dims = (2, 3)


class LocalResponseNorm(Module):
    """AlexNet's normalisation across neighbouring channels.

    b_c = a_c * (k + alpha/size * sum of a^2 over the `size` channels around c) ** -beta.
    PyTorch divides alpha by size; the AlexNet paper does not (its layer is
    ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)``).

    As ``torch.nn.LocalResponseNorm``; the layer around ``F.local_response_norm``.  A
    strongly active channel damps its neighbours ("lateral inhibition"); batch norm has
    since replaced it.

    Args:
        size (int): how many neighbouring channels to sum over.
        alpha (float, optional): the multiplicative factor (divided by ``size``).
            Default: ``1e-4``
        beta (float, optional): the exponent. Default: ``0.75``
        k (float, optional): the additive constant. Default: ``1.0``

    Shape:
        - Input: (N, C, *), at least 3-D: (N, C, L), (N, C, H, W), ...
        - Output: the same shape.

    Example::

        >>> lrn = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)     # AlexNet's
        >>> lrn
        LocalResponseNorm(5, alpha=0.0005, beta=0.75, k=2.0)
        >>> lrn(mc.tensor(np.ones((2, 96, 55, 55), np.float32))).shape
        (2, 96, 55, 55)
    """

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return named_errors(self, F.local_response_norm, x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
