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
        # without running statistics, batch statistics are used in eval mode too
        use_batch_stats = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return named_errors(self, F.batch_norm, x,
                            self.running_mean if track else None,
                            self.running_var if track else None,
                            self.weight, self.bias, use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W): statistics per channel over N, H and W."""
    expected_dims = (4,)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): statistics per channel over N (and L)."""
    expected_dims = (2, 3)


class LocalResponseNorm(Module):
    """AlexNet's normalisation across neighbouring channels:
    b_c = a_c * (k + alpha/size * sum of a^2 over the `size` channels around c) ** -beta.
    PyTorch divides alpha by size; the AlexNet paper does not (its layer is
    ``LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)``)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return named_errors(self, F.local_response_norm, x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
