"""Elementwise arithmetic, unary maths and reductions.

Binary ops broadcast like NumPy; their backward sums the gradient back down to
each input's shape (``unbroadcast``).
"""
import numpy as np

from .. import backend
from ..autograd import Function, Tensor


# ----- helpers every op file uses -------------------------------------------
def as_tensor(value, like):
    """A Tensor for ``value``; Python numbers take the dtype and device of ``like``."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(like.data)
    if isinstance(value, (bool, int, float)):
        return Tensor(xp.asarray(value, dtype=like.dtype))
    return Tensor(xp.asarray(value))


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, down to ``shape``."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def normalize_dims(dim, ndim):
    """None -> all axes; int or sequence (negative allowed) -> a sorted tuple."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(sorted(d % ndim if ndim else d for d in dims))


# ----- binary ops: x (A...) op y (B...) -> broadcast shape ------------------
class Add(Function):
    def forward(self, x, y):
        self.x_shape, self.y_shape = x.shape, y.shape
        return x + y

    def backward(self, g):
        return unbroadcast(g, self.x_shape), unbroadcast(g, self.y_shape)


class Sub(Function):
    def forward(self, x, y):
        self.x_shape, self.y_shape = x.shape, y.shape
        return x - y

    def backward(self, g):
        return unbroadcast(g, self.x_shape), unbroadcast(-g, self.y_shape)


class Mul(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x * y

    def backward(self, g):
        gx = unbroadcast(g * self.y, self.x.shape) if self.needs_input_grad[0] else None
        gy = unbroadcast(g * self.x, self.y.shape) if self.needs_input_grad[1] else None
        return gx, gy


class Div(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        return x / y

    def backward(self, g):
        gx = unbroadcast(g / self.y, self.x.shape) if self.needs_input_grad[0] else None
        gy = unbroadcast(-g * self.x / (self.y * self.y), self.y.shape) if self.needs_input_grad[1] else None
        return gx, gy


class Pow(Function):
    def forward(self, x, y):
        self.x, self.y = x, y
        self.out = x ** y
        return self.out

    def backward(self, g):
        xp = backend.get_array_module(g)
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = unbroadcast(g * self.y * self.x ** (self.y - 1), self.x.shape)
        if self.needs_input_grad[1]:   # d(x^y)/dy = x^y log x, defined as 0 where x == 0
            log_x = xp.log(xp.where(self.x > 0, self.x, 1))
            gy = unbroadcast(g * self.out * log_x, self.y.shape)
        return gx, gy


# ----- unary ops: x (...) -> (...) ------------------------------------------
class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Exp(Function):
    def forward(self, x):
        self.out = backend.get_array_module(x).exp(x)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    def forward(self, x):
        self.x = x
        return backend.get_array_module(x).log(x)

    def backward(self, g):
        return g / self.x


class Sqrt(Function):
    def forward(self, x):
        self.out = backend.get_array_module(x).sqrt(x)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Abs(Function):
    def forward(self, x):
        self.x = x
        return abs(x)

    def backward(self, g):
        return g * backend.get_array_module(g).sign(self.x)


class ToDtype(Function):
    settings = ("dtype",)

    def forward(self, x):
        self.x_dtype = x.dtype
        return x.astype(self.dtype, copy=False)

    def backward(self, g):
        return g.astype(self.x_dtype, copy=False)


class ToDevice(Function):
    settings = ("device",)

    def forward(self, x):
        self.x_device = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, g):
        return backend.to_device(g, self.x_device)


# ----- reductions: x (...) -> x with `dims` removed (or kept as 1) ----------
class Sum(Function):
    settings = ("dims", "keepdim")

    def forward(self, x):
        self.x_shape = x.shape
        return x.sum(axis=self.dims, keepdims=self.keepdim)

    def backward(self, g):
        xp = backend.get_array_module(g)
        if not self.keepdim:
            g = g.reshape(_kept_shape(self.x_shape, self.dims))
        return xp.broadcast_to(g, self.x_shape).copy()


class Mean(Function):
    settings = ("dims", "keepdim")

    def forward(self, x):
        self.x_shape = x.shape
        self.count = int(np.prod([x.shape[d] for d in self.dims]))
        return x.mean(axis=self.dims, keepdims=self.keepdim)

    def backward(self, g):
        xp = backend.get_array_module(g)
        if not self.keepdim:
            g = g.reshape(_kept_shape(self.x_shape, self.dims))
        return xp.broadcast_to(g / self.count, self.x_shape).copy()


class Max(Function):
    """Max over dims; ties share the gradient equally (so it stays a true subgradient)."""
    settings = ("dims", "keepdim")

    def forward(self, x):
        out = x.max(axis=self.dims, keepdims=True)
        self.is_max = x == out
        self.x_shape = x.shape
        return out if self.keepdim else out.reshape(_reduced_shape(x.shape, self.dims))

    def backward(self, g):
        g = g.reshape(_kept_shape(self.x_shape, self.dims))
        ties = self.is_max.sum(axis=self.dims, keepdims=True)
        return g * self.is_max / ties


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _reduced_shape(shape, dims):
    return tuple(n for i, n in enumerate(shape) if i not in dims)


# ----- the functional API ---------------------------------------------------
def add(input, other):
    return Add.apply(input, as_tensor(other, input))


def sub(input, other):
    return Sub.apply(input, as_tensor(other, input))


def mul(input, other):
    return Mul.apply(input, as_tensor(other, input))


def div(input, other):
    return Div.apply(input, as_tensor(other, input))


def pow(input, exponent):
    return Pow.apply(input, as_tensor(exponent, input))


def neg(input):
    return Neg.apply(input)


def exp(input):
    return Exp.apply(input)


def log(input):
    return Log.apply(input)


def sqrt(input):
    return Sqrt.apply(input)


def abs(input):
    return Abs.apply(input)


def to_dtype(input, dtype):
    return input if input.dtype == dtype else ToDtype.apply(input, dtype=np.dtype(dtype))


def to_device(input, device):
    return input if input.device == device else ToDevice.apply(input, device=device)


def to(input, target):
    """``to('cuda')``, ``to('cpu')`` or ``to(np.float64)``: a new tensor in the graph."""
    try:
        dtype = np.dtype(target)
    except TypeError:           # not a dtype, so it must name a device
        return to_device(input, backend.normalize_device(target))
    return to_dtype(input, dtype)


def sum(input, dim=None, keepdim=False):
    return Sum.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    return Mean.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


def max(input, dim=None, keepdim=False):
    """Max over ``dim`` (all elements when None).  Unlike torch.max(x, dim) it returns
    only the values; use ``argmax`` for the indices."""
    return Max.apply(input, dims=normalize_dims(dim, input.ndim), keepdim=keepdim)


def argmax(input, dim=None, keepdim=False):
    xp = backend.get_array_module(input.data)
    out = xp.argmax(input.data, axis=dim)
    if keepdim and dim is not None:
        out = xp.expand_dims(out, dim)
    return Tensor(out.astype(np.int64))
