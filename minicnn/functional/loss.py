"""softmax, log_softmax and the losses: cross_entropy (with label smoothing), mse_loss."""
import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from . import elementwise as E
from .shape import permute, reshape


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)     # avoids overflow in exp
    xp = backend.get_array_module(x)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    settings = ("dim",)

    def forward(self, x):
        self.out = backend.get_array_module(x).exp(_log_softmax(x, self.dim))
        return self.out

    def backward(self, g):
        # dy_i/dx_j = y_i (delta_ij - y_j)
        return self.out * (g - (g * self.out).sum(axis=self.dim, keepdims=True))


class LogSoftmax(Function):
    settings = ("dim",)

    def forward(self, x):
        self.out = _log_softmax(x, self.dim)
        return self.out

    def backward(self, g):
        xp = backend.get_array_module(g)
        return g - xp.exp(self.out) * g.sum(axis=self.dim, keepdims=True)


class CrossEntropy(Function):
    """logits (N, C), targets (N,) int -> per-sample loss (N,).

    With label smoothing eps the target distribution is (1-eps)*onehot + eps/C,
    and the gradient of the loss w.r.t. the logits is softmax - target_distribution.
    """
    settings = ("label_smoothing",)

    def forward(self, logits, targets):
        xp = backend.get_array_module(logits)
        n, c = logits.shape
        log_p = _log_softmax(logits, 1)
        target_dist = xp.full((n, c), self.label_smoothing / c, dtype=logits.dtype)
        target_dist[xp.arange(n), targets] += 1 - self.label_smoothing
        self.log_p, self.target_dist = log_p, target_dist
        return -(target_dist * log_p).sum(axis=1)

    def backward(self, g):                     # g: (N,)
        xp = backend.get_array_module(g)
        return (xp.exp(self.log_p) - self.target_dist) * g[:, None], None


def softmax(input, dim):
    return Softmax.apply(input, dim=dim % input.ndim)


def log_softmax(input, dim):
    return LogSoftmax.apply(input, dim=dim % input.ndim)


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return E.mean(loss)
    if reduction == "sum":
        return E.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"minicnn: {op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """Cross entropy between logits ``input`` (N, C) or (N, C, d1, ...) and class
    indices ``target`` (N,) or (N, d1, ...), as ``torch.nn.functional.cross_entropy``."""
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    if input.ndim < 2:
        raise ValueError(f"minicnn: cross_entropy: expected logits of shape (N, C, ...), got {input.shape}")
    if target.dtype.kind not in "iu":
        raise TypeError(f"minicnn: cross_entropy: expected integer class indices, got dtype {target.dtype}")
    n, c = input.shape[:2]
    if target.shape != (n,) + input.shape[2:]:
        raise ValueError(f"minicnn: cross_entropy: logits {input.shape} need targets of shape "
                         f"{(n,) + input.shape[2:]}, got {target.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"minicnn: cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    t = target.data
    if t.size and (int(t.min()) < 0 or int(t.max()) >= c):
        bad = t[(t < 0) | (t >= c)].reshape(-1)[0]
        raise IndexError(f"minicnn: cross_entropy: target {int(bad)} is out of range for "
                         f"{c} classes (expected 0 <= target < {c})")
    spatial = input.shape[2:]
    if spatial:   # (N, C, d...) -> (N*d..., C): every position is one sample
        input = reshape(permute(input, 0, *range(2, input.ndim), 1), -1, c)
        target = Tensor(target.data.reshape(-1))
    loss = CrossEntropy.apply(input, target, label_smoothing=float(label_smoothing))
    if spatial and reduction == "none":
        loss = reshape(loss, (n,) + spatial)
    return _reduce(loss, reduction, "cross_entropy")


def mse_loss(input, target, reduction="mean"):
    if input.shape != target.shape:
        raise ValueError(f"minicnn: mse_loss: input {input.shape} and target {target.shape} differ in shape")
    diff = E.sub(input, target)
    return _reduce(E.mul(diff, diff), reduction, "mse_loss")
