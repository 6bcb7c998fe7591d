"""Matrix products: matmul (with NumPy batching/broadcasting) and linear."""
import numpy as np

from .. import backend
from ..autograd import Function, InvalidDtypeError, InvalidValueError
from .elementwise import as_tensor, sum_to, unbroadcast


class MatMul(Function):
    """x (.., n, k) @ y (.., k, m) -> (.., n, m); 1-D operands as in NumPy."""

    def forward(self, x, y):
        self.save_for_backward(x=x, y=y)
        return x @ y

    def backward(self, g):
        xp = backend.get_array_module(g)
        # Promote 1-D operands to matrices so one formula covers every case.
        x = self.x[None, :] if self.x.ndim == 1 else self.x
        y = self.y[:, None] if self.y.ndim == 1 else self.y
        if self.x.ndim == 1 and self.y.ndim == 1:     # a dot product: g is 0-d
            g = g.reshape(1, 1)
        elif self.x.ndim == 1:
            g = xp.expand_dims(g, -2)
        elif self.y.ndim == 1:
            g = xp.expand_dims(g, -1)
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = unbroadcast(g @ xp.swapaxes(y, -1, -2), x.shape).reshape(self.x.shape)
        if self.needs_input_grad[1]:
            gy = unbroadcast(xp.swapaxes(x, -1, -2) @ g, y.shape).reshape(self.y.shape)
        return gx, gy

    def backward_graph(self, g):
        # backward's formula on Tensors: 1-D operands promoted to matrices by reshapes
        x, y = self.input_tensor(0, self.x), self.input_tensor(1, self.y)
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        g2 = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:]) if x.ndim == 1 else g
        g2 = g2.reshape(g2.shape + (1,)) if y.ndim == 1 else g2
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = sum_to(g2 @ y2.transpose(-1, -2), x2.shape).reshape(x.shape)
        if self.needs_input_grad[1]:
            gy = sum_to(x2.transpose(-1, -2) @ g2, y2.shape).reshape(y.shape)
        return gx, gy


class Linear(Function):
    """x (N.., in) -> x @ W.T + b: (N.., out);  W: (out, in), b: (out,)."""

    def forward(self, x, w, b):
        # only what a wanted gradient needs: gx needs w, gw needs x (as PyTorch: a frozen
        # input's layer keeps no weight, and changing it before backward is then fine)
        need_x, need_w, _ = self.needs_input_grad
        self.save_for_backward(**({"w": w} if need_x else {}), **({"x": x} if need_w else {}))
        out = x @ w.T
        return out if b is None else out + b

    def multiply_adds(self):               # each output sums in_features products
        return int(np.prod(self.output_shape)) * self.input_shapes[1][1]

    accumulates_into = (1,)                 # W's gradient can be added into W.grad

    def backward(self, g, into=None):
        gx = g @ self.w if self.needs_input_grad[0] else None
        # every leading dim is a sample: g (M, out), x (M, in), sizes spelled out as M, in or
        # out may be 0 (then reshape cannot infer a -1)
        m = int(np.prod(g.shape[:-1]))
        g2 = g.reshape(m, g.shape[-1])
        gw = None
        if self.needs_input_grad[1]:
            x2 = self.x.reshape(m, self.x.shape[-1])
            if into:        # W.grad += g2.T @ x2, with no (out, in) temporary
                add_product_into(into[1], g2.T, x2)
            else:
                gw = g2.T @ x2                                      # (out, in)
        gb = g2.sum(axis=0) if self.needs_input_grad[2] else None
        return gx, gw, gb

    def backward_graph(self, g):
        need_x, need_w, need_b = self.needs_input_grad
        m = int(np.prod(g.shape[:-1]))
        g2 = g.reshape(m, g.shape[-1])
        gx = g @ self.input_tensor(1, self.w) if need_x else None
        gw = g2.T @ self.input_tensor(0, self.x).reshape(m, self.x.shape[-1]) if need_w else None
        return gx, gw, (g2.sum(dim=0) if need_b else None)


def add_product_into(out, a, b, block_bytes=1 << 20):
    """``out += a @ b`` in blocks of rows: the product of a block (at most ``block_bytes``,
    so it stays in the cache) is added before the next is computed, so a 400 MB weight
    gradient is accumulated without a 400 MB temporary.  a (R, M), b (M, C), out (R, C)."""
    xp = backend.get_array_module(out)
    rows = max(1, block_bytes // max(1, out.shape[1] * out.itemsize))
    block = xp.empty((min(rows, out.shape[0]), out.shape[1]), dtype=out.dtype)
    for start in range(0, out.shape[0], rows):
        product = block[:min(rows, out.shape[0] - start)]
        xp.matmul(a[start:start + rows], b, out=product)
        out[start:start + rows] += product


def _check_operands(op, input, other):
    """PyTorch's rules for matmul and linear: no 0-d operand, and one dtype (no promotion)."""
    if input.ndim == 0 or other.ndim == 0:
        raise InvalidValueError(f"minicnn: {op}: both arguments need at least one dimension, "
                                f"got shapes {input.shape} and {other.shape}")
    if input.dtype != other.dtype:
        raise InvalidDtypeError(f"minicnn: {op}: expected both arguments to have the same dtype, "
                                f"got {input.dtype} and {other.dtype}")


def matmul(input, other):
    """Matrix product ``input @ other``, as ``torch.matmul``; what ``x @ y`` calls.

    NumPy's batching and broadcasting: the last two dims multiply as matrices and the
    leading (batch) dims broadcast; a 1-D operand is a vector (a row on the left, a column
    on the right) and its dim is dropped from the result.  No dtype promotion, as in
    PyTorch: both operands have one dtype, and neither may be 0-d.  A NumPy array operand
    is taken as a constant tensor.

    Args:
        input (Tensor): the left operand, at least 1-D.
        other (Tensor): the right operand, at least 1-D, of ``input``'s dtype.

    Shape:
        - Input: ``input`` (*, n, k) or (k,); ``other`` (*, k, m) or (k,).
        - Output: (*, n, m), the batch dims broadcast; without n or m for a 1-D operand.

    Example::

        >>> a = mc.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> F.matmul(a, mc.tensor([[1.0], [1.0]]))
        tensor([[3.],
                [7.]], dtype=float32)
        >>> (a @ mc.tensor([1.0, 0.0])).shape
        (2,)
        >>> F.matmul(mc.tensor(np.ones((5, 2, 3))), mc.tensor(np.ones((3, 4)))).shape
        (5, 2, 4)
    """
    input, other = as_tensor(input, other), as_tensor(other, input)    # arrays too: a @ t
    _check_operands("matmul", input, other)
    k_in = input.shape[-1]
    k_other = other.shape[0] if other.ndim == 1 else other.shape[-2]
    if k_in != k_other:
        raise InvalidValueError(f"minicnn: matmul: shapes {input.shape} and {other.shape} "
                                f"do not align ({k_in} != {k_other})")
    return MatMul.apply(input, other)


def linear(input, weight, bias=None):
    """x (N.., in) @ weight (out, in).T + bias (out,) -> (N.., out); N may be 0, in too.

    As ``torch.nn.functional.linear``: the op of ``nn.Linear``.  Every leading dim counts
    as a sample.  The weight (and bias) must have the input's dtype.

    Args:
        input (Tensor): the input features, the last dim ``in_features``.
        weight (Tensor): the weight, (out_features, in_features).
        bias (Tensor, optional): the bias, (out_features,). Default: ``None`` (no bias).

    Shape:
        - Input: (*, in_features).
        - Weight: (out_features, in_features).
        - Bias: (out_features,).
        - Output: (*, out_features).

    Example::

        >>> x = mc.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> w = mc.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0]])
        >>> F.linear(x, w, mc.tensor([0.5, 0.0]))
        tensor([[ 6.5, -2. ],
                [ 1.5,  0. ]], dtype=float32)
    """
    _check_operands("linear", input, weight)
    if weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise InvalidValueError(f"minicnn: linear: expected input with {weight.shape[-1]} features "
                                f"(weight {weight.shape}), got input of shape {input.shape}")
    if bias is not None:
        _check_operands("linear", weight, bias)
        if bias.shape != weight.shape[:1]:
            raise InvalidValueError(f"minicnn: linear: expected a bias of shape {weight.shape[:1]}, "
                                    f"got {bias.shape}")
    return Linear.apply(input, weight, bias)
