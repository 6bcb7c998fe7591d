"""softmax, log_softmax and the losses: cross_entropy (class indices or probabilities,
class weights, ignore_index, label smoothing) and mse_loss."""
import numpy as np

from .. import backend
from ..autograd import Function, InvalidDtypeError, InvalidValueError, Tensor
from . import elementwise as E
from .arguments import check_dtype, normalize_dims
from .shape import permute, reshape


def _log_softmax(x, axis):
    """log softmax over ``axis`` (an int or a tuple of axes; () for a 0-d tensor, giving 0)."""
    if x.size == 0:        # nothing to normalise (and a max over an empty axis would fail)
        return x.copy()
    shifted = x - x.max(axis=axis, keepdims=True)     # exp never overflows: logits of 1000 work
    xp = backend.get_array_module(x)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    settings = ("axis",)

    def forward(self, x):
        out = backend.get_array_module(x).exp(_log_softmax(x, self.axis))
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        # dy_i/dx_j = y_i (delta_ij - y_j)
        return self.out * (g - (g * self.out).sum(axis=self.axis, keepdims=True))

    def backward_graph(self, g):
        y = self.output_tensor(self.out)
        return y * (g - E.sum(g * y, dim=self.axis, keepdim=True))


class LogSoftmax(Function):
    settings = ("axis",)

    def forward(self, x):
        out = _log_softmax(x, self.axis)
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        xp = backend.get_array_module(g)
        return g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True)

    def backward_graph(self, g):
        return g - E.exp(self.output_tensor(self.out)) * E.sum(g, dim=self.axis, keepdim=True)


class CrossEntropy(Function):
    """logits (M, C) and a target distribution q (M, C) -> per-row loss (M,):
    loss_m = -sum_c q_mc * log softmax(logits_m)_c.

    q carries everything the caller asked for (see ``cross_entropy``): one-hot class
    indices or given probabilities, label smoothing, class weights, zero rows for
    ignored targets.  So q's rows need not sum to 1, and the gradient w.r.t. the logits
    is softmax * sum_c q_c - q (the familiar softmax - q when they do).
    """

    def forward(self, logits, q):
        log_p = _log_softmax(logits, 1)
        self.save_for_backward(log_p=log_p, q=q)
        xp = backend.get_array_module(logits)
        # where q is 0 a logit of -inf adds nothing (0 * -inf would be NaN)
        return -xp.where(q != 0, q * log_p, 0).sum(axis=1)

    def backward(self, g):                     # g: (M,)
        xp = backend.get_array_module(g)
        g = g[:, None]
        g_logits = g_q = None
        if self.needs_input_grad[0]:
            g_logits = (xp.exp(self.log_p) * self.q.sum(axis=1, keepdims=True) - self.q) * g
        if self.needs_input_grad[1]:           # probabilities that require grad
            g_q = -self.log_p * g
        return g_logits, g_q

    def backward_graph(self, g):
        # log_p stands in for the logits in the graph: it differs from them by a constant
        # per row, which log_softmax removes, so log_softmax(log_p) is log_p and its
        # derivatives are the logits'
        log_p = LogSoftmax.apply(self.input_tensor(0, self.log_p), axis=1)
        q, g = self.input_tensor(1, self.q), g.reshape(-1, 1)
        g_logits = g_q = None
        if self.needs_input_grad[0]:
            g_logits = (E.exp(log_p) * E.sum(q, dim=1, keepdim=True) - q) * g
        if self.needs_input_grad[1]:
            g_q = -log_p * g
        return g_logits, g_q


def softmax(input, dim):
    """Softmax over ``dim``: ``exp(x) / sum(exp(x))``, as ``torch.nn.functional.softmax``.

    Each slice along ``dim`` becomes a probability distribution: positive values summing to
    one.  The largest value is subtracted first, so exp never overflows: logits of 1000
    work. Floating-point inputs only.  Backward uses dy_i/dx_j = y_i (delta_ij - y_j).

    Args:
        input (Tensor): floating-point logits.
        dim (int or tuple of ints): the dim(s) that sum to 1 (there is no default, unlike
            PyTorch's deprecated implicit one).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> x = mc.tensor([1.0, 2.0, 3.0], dtype=np.float64)
        >>> F.softmax(x, dim=0)
        tensor([0.09003057, 0.24472847, 0.66524096], dtype=float64)
        >>> F.softmax(mc.tensor([[1000.0, 1000.0]]), dim=1)
        tensor([[0.5, 0.5]], dtype=float32)
    """
    check_dtype("softmax", input)
    return Softmax.apply(input, axis=normalize_dims(dim, input.ndim, "softmax"))


def log_softmax(input, dim):
    """Log of the softmax over ``dim``, as ``torch.nn.functional.log_softmax``.

    ``x - log(sum(exp(x)))``, computed directly (after subtracting the max), not as
    ``log(softmax(x))``, which gives
    -inf once a probability underflows to 0.  Floating-point inputs only.

    Args:
        input (Tensor): floating-point logits.
        dim (int or tuple of ints): the dim(s) to normalise over.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> x = mc.tensor([[1.0, 2.0, 3.0]], dtype=np.float64)
        >>> F.log_softmax(x, dim=1)
        tensor([[-2.40760596, -1.40760596, -0.40760596]], dtype=float64)
        >>> F.log_softmax(mc.tensor([0.0, 200.0]), dim=0)
        tensor([-200.,    0.], dtype=float32)
    """
    check_dtype("log_softmax", input)
    return LogSoftmax.apply(input, axis=normalize_dims(dim, input.ndim, "log_softmax"))


def _reduce(loss, reduction, op, divisor=None):
    """'mean' divides the sum by ``divisor`` (default: the number of elements)."""
    if reduction == "mean" and divisor is None:
        return E.mean(loss)
    if reduction == "mean" and divisor == 0:
        # nothing counted (every target ignored): PyTorch's NaN, with zero gradients
        return E.add(E.mul(E.sum(loss), 0.0), float("nan"))
    if reduction == "mean":
        return E.mul(E.sum(loss), 1 / divisor)
    if reduction == "sum":
        return E.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"minicnn: {op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy between logits and targets, as ``torch.nn.functional.cross_entropy``.

    input: logits (N, C), (N, C, d1, ...) or unbatched (C,).
    target: class indices (N,), (N, d1, ...) or () -- or class probabilities, a float
    tensor shaped like ``input``.  ``weight`` (C,) scales each class's terms;
    ``ignore_index`` marks class-index targets that contribute nothing.  'mean' divides
    by the summed weight of the counted targets (their number when unweighted) for class
    indices, and by the number of samples for probabilities.  Label smoothing eps mixes
    the target with the uniform distribution: (1-eps) * target + eps/C.

    The loss of one sample is ``-sum_c q_c * log_softmax(logits)_c`` with q the target
    distribution, so the softmax is built in: pass raw logits, not probabilities.  The
    gradient w.r.t. the logits is ``softmax * sum(q) - q``: the familiar ``softmax - q``
    when q sums to 1.

    Args:
        input (Tensor): floating-point logits.
        target (Tensor or array-like): integer class indices in [0, C) (or
            ``ignore_index``), or class probabilities of ``input``'s shape.
        weight (Tensor, optional): a weight per class, of ``input``'s dtype.
            Default: ``None`` (every class 1)
        ignore_index (int, optional): a class-index target that counts for nothing (not in
            the 'mean' divisor either). Default: ``-100``
        reduction (str, optional): ``'mean'``, ``'sum'`` or ``'none'`` (the per-sample
            losses). Default: ``'mean'``
        label_smoothing (float, optional): eps in [0, 1]. Default: ``0.0``

    Shape:
        - Input: (N, C), (N, C, d1, ...) or (C,).
        - Target: class indices (N,), (N, d1, ...) or (); or probabilities like the input.
        - Output: () for ``'mean'`` and ``'sum'``; with ``'none'``, (N,), (N, d1, ...) or
          ().

    Example::

        >>> logits = mc.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=np.float64)
        >>> F.cross_entropy(logits, mc.tensor([0, 2]))
        tensor(0.17545638, dtype=float64)
        >>> F.cross_entropy(logits, mc.tensor([0, 2]), reduction='none')
        tensor([0.2413113 , 0.10960146], dtype=float64)
        >>> F.cross_entropy(logits, mc.tensor([0, -100]))        # the second one ignored
        tensor(0.2413113, dtype=float64)
        >>> F.cross_entropy(logits, mc.tensor([0, 2]), label_smoothing=0.1)
        tensor(0.34545638, dtype=float64)
    """
    target = target if isinstance(target, Tensor) else Tensor(np.asarray(target))
    check_dtype("cross_entropy", input, what="floating-point logits")
    if not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"minicnn: cross_entropy: ignore_index must be an int, got {ignore_index!r}")
    if input.ndim == 0:
        raise InvalidValueError("minicnn: cross_entropy: expected logits of shape (C,), (N, C) or "
                                f"(N, C, d1, ...), got a 0-d tensor")
    if not 0.0 <= label_smoothing <= 1.0:
        raise InvalidValueError(f"minicnn: cross_entropy: label_smoothing must be in [0, 1], "
                                f"got {label_smoothing}")
    probabilities = target.shape == input.shape
    unbatched = input.ndim == 1
    if unbatched:      # (C,) -> (1, C): one sample
        input = reshape(input, 1, -1)
        target = reshape(target, (1,) + target.shape)
    n, c = input.shape[:2]
    w = _class_weights(weight, input, c)

    def rows(t):       # (N, C, d...) -> (N*d..., C): every position is one sample
        return reshape(permute(t, 0, *range(2, t.ndim), 1), -1, c) if t.ndim > 2 else t

    if probabilities:
        check_dtype("cross_entropy", target, what="floating-point class probabilities")
        input, target = E.promote(input, target)
        if ignore_index != -100:
            raise InvalidValueError("minicnn: cross_entropy: ignore_index works only with class "
                                    "indices, not class probabilities")
        q = E.add(E.mul(rows(target), 1 - label_smoothing), label_smoothing / c)
        q = q if w is None else E.mul(q, Tensor(w))
        divisor = None         # 'mean': over the samples
    else:
        q, divisor = _index_target_distribution(target, input, w, ignore_index, label_smoothing)
    loss = CrossEntropy.apply(rows(input), q)
    if reduction == "none":
        return reshape(loss, () if unbatched else (n,) + input.shape[2:])
    return _reduce(loss, reduction, "cross_entropy", divisor)


def _class_weights(weight, input, c):
    """The raw (C,) weight array, or None; PyTorch's rules on its shape and dtype."""
    if weight is None:
        return None
    if weight.shape != (c,):
        raise InvalidValueError(f"minicnn: cross_entropy: weight must have one entry per class, "
                                f"shape ({c},), got {weight.shape}")
    if weight.dtype != input.dtype:
        raise InvalidDtypeError(f"minicnn: cross_entropy: weight is {weight.dtype}, the logits "
                                f"{input.dtype}; they must match")
    return weight.data


def _index_target_distribution(target, input, w, ignore_index, label_smoothing):
    """Class indices (N, d...) -> q (N*d..., C) for CrossEntropy, and the 'mean' divisor.

    q_m = w * ((1-eps) * onehot(t_m) + eps/C), a zero row where t_m == ignore_index;
    the divisor is the sum of w[t_m] over the rows kept (PyTorch's weighted mean).
    """
    n, c = input.shape[:2]
    check_dtype("cross_entropy", target, "iu", "integer class indices")
    if target.shape != (n,) + input.shape[2:]:
        raise InvalidValueError(f"minicnn: cross_entropy: logits {input.shape} need targets of shape "
                                f"{(n,) + input.shape[2:]} (class indices) or {input.shape} "
                                f"(class probabilities), got {target.shape}")
    xp = backend.get_array_module(input.data)
    t = target.data.reshape(-1)
    kept = t != ignore_index
    bad = t[kept & ((t < 0) | (t >= c))]
    if bad.size:
        raise IndexError(f"minicnn: cross_entropy: target {int(bad[0])} is out of range for "
                         f"{c} classes (expected 0 <= target < {c}, or ignore_index={ignore_index})")
    rows = xp.arange(t.size)[kept]
    q = xp.full((t.size, c), label_smoothing / c, dtype=input.dtype)
    q[rows, t[kept]] += 1 - label_smoothing
    q[~kept] = 0
    w = xp.ones(c, dtype=input.dtype) if w is None else w
    return Tensor(q * w), float(w[t[kept]].sum())


def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target) ** 2``, as ``torch.nn.functional.mse_loss``.

    ``input`` and ``target`` must have the same shape: PyTorch would broadcast different
    shapes (with a warning), which is nearly always a bug, e.g. predictions (N, 1) against
    targets (N,) giving an (N, N) loss.

    Args:
        input (Tensor): floating-point predictions.
        target (Tensor): the targets, of ``input``'s shape.
        reduction (str, optional): ``'mean'``, ``'sum'`` or ``'none'`` (the elementwise
            squared errors). Default: ``'mean'``

    Shape:
        - Input: (*), any shape.
        - Target: (*), the same shape.
        - Output: () for ``'mean'`` and ``'sum'``; (*) with ``'none'``.

    Example::

        >>> pred, target = mc.tensor([1.0, 2.0]), mc.tensor([1.5, 0.0])
        >>> F.mse_loss(pred, target)
        tensor(2.125, dtype=float32)
        >>> F.mse_loss(pred, target, reduction='none')
        tensor([0.25, 4.  ], dtype=float32)
    """
    check_dtype("mse_loss", input)
    if input.shape != target.shape:
        raise InvalidValueError(f"minicnn: mse_loss: input {input.shape} and target {target.shape} "
                                "differ in shape (PyTorch would broadcast them, with a warning)")
    diff = E.sub(input, target)
    return _reduce(E.mul(diff, diff), reduction, "mse_loss")
