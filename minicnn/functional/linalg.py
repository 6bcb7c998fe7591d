"""Matrix products: matmul (with NumPy batching/broadcasting) and linear."""
from .. import backend
from ..autograd import Function
from .elementwise import unbroadcast


class MatMul(Function):
    """x (.., n, k) @ y (.., k, m) -> (.., n, m); 1-D operands as in NumPy."""

    def forward(self, x, y):
        self.x, self.y = x, y
        return x @ y

    def backward(self, g):
        xp = backend.get_array_module(g)
        # Promote 1-D operands to matrices so one formula covers every case.
        x = self.x[None, :] if self.x.ndim == 1 else self.x
        y = self.y[:, None] if self.y.ndim == 1 else self.y
        if self.x.ndim == 1:
            g = xp.expand_dims(g, -2)
        if self.y.ndim == 1:
            g = xp.expand_dims(g, -1)
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = unbroadcast(g @ xp.swapaxes(y, -1, -2), x.shape).reshape(self.x.shape)
        if self.needs_input_grad[1]:
            gy = unbroadcast(xp.swapaxes(x, -1, -2) @ g, y.shape).reshape(self.y.shape)
        return gx, gy


class Linear(Function):
    """x (N.., in) -> x @ W.T + b: (N.., out);  W: (out, in), b: (out,)."""

    def forward(self, x, w, b):
        self.x, self.w = x, w
        out = x @ w.T
        return out if b is None else out + b

    def backward(self, g):
        gx = g @ self.w if self.needs_input_grad[0] else None
        gw = gb = None
        if self.needs_input_grad[1]:
            gw = g.reshape(-1, g.shape[-1]).T @ self.x.reshape(-1, self.x.shape[-1])
        if self.needs_input_grad[2]:
            gb = g.reshape(-1, g.shape[-1]).sum(axis=0)
        return gx, gw, gb


def matmul(input, other):
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError("minicnn: matmul: both arguments need at least one dimension, "
                         f"got shapes {input.shape} and {other.shape}")
    k_in = input.shape[-1]
    k_other = other.shape[0] if other.ndim == 1 else other.shape[-2]
    if k_in != k_other:
        raise ValueError(f"minicnn: matmul: shapes {input.shape} and {other.shape} "
                         f"do not align ({k_in} != {k_other})")
    return MatMul.apply(input, other)


def linear(input, weight, bias=None):
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(f"minicnn: linear: expected input with {weight.shape[1]} features "
                         f"(weight {weight.shape}), got input of shape {input.shape}")
    return Linear.apply(input, weight, bias)
