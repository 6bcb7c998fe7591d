"""Elementwise arithmetic, unary maths and reductions.

Binary ops broadcast like NumPy; their backward sums the gradient back down to
each input's shape (``unbroadcast``).
"""
import builtins
import functools

import numpy as np

from .. import backend
from ..autograd import DEFAULT_FLOAT, Function, InvalidDtypeError, InvalidValueError, Tensor


# ----- helpers every op file uses -------------------------------------------
def as_tensor(value, like, dtype=None):
    """A Tensor for ``value`` on the device of ``like``; a Python number takes ``dtype``
    (default: the dtype of ``like``)."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(like.data)
    if isinstance(value, (bool, int, float)):
        return Tensor(xp.asarray(value, dtype=dtype or like.dtype))
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


def _promote_types(a, b):
    """The dtype two dtypes both fit in: NumPy's answer, except that an integer meeting a
    float gives that float (NumPy widens int64 with float32 to float64, PyTorch does not)."""
    if (a.kind == "f") != (b.kind == "f"):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def result_type(*operands):
    """The dtype of an op on ``operands`` (Tensors and Python numbers), as PyTorch decides.

    Tensors with dims outrank 0-d tensors, which outrank Python numbers; a lower rank
    counts only when it brings a higher category (bool < integer < float).  So
    float32 * 2.5 stays float32, int64 * 2.5 is float32 (a Python float stands for
    PyTorch's default dtype), uint8 + 300 stays uint8, int64 + a 0-d float64 tensor is
    float64, and int32 + int64 (both with dims) is int64.
    """
    def promoted(dtypes):
        return functools.reduce(_promote_types, dtypes) if dtypes else None

    def combine(higher, lower):         # PyTorch's combine_categories
        if lower is None or higher is not None and higher.kind == "f":
            return higher
        if higher is None or higher.kind == "b" or lower.kind == "f":
            return lower if higher is None else _promote_types(higher, lower)
        return higher

    tensors = [v for v in operands if isinstance(v, Tensor)]
    numbers = [np.dtype(DEFAULT_FLOAT if isinstance(v, float) else bool if isinstance(v, bool)
                        else np.int64) for v in operands if not isinstance(v, Tensor)]
    with_dims = promoted([t.dtype for t in tensors if t.ndim])
    zero_dim = promoted([t.dtype for t in tensors if not t.ndim])
    return combine(with_dims, combine(zero_dim, promoted(numbers)))


def promote(*operands, floating=False):
    """Tensors of one dtype for ``operands`` (Tensors, arrays, Python numbers): PyTorch's
    ``result_type``; with ``floating`` (true division, exp, ...) at least the default
    float dtype.  A cast stays in the graph, so each input's gradient keeps its dtype."""
    like = next(v for v in operands if isinstance(v, Tensor))
    operands = [v if isinstance(v, (bool, int, float)) else as_tensor(v, like) for v in operands]
    dtype = result_type(*operands)
    if floating and dtype.kind != "f":
        dtype = DEFAULT_FLOAT
    return [as_tensor(v, like, dtype) if not isinstance(v, Tensor) else to_dtype(v, dtype)
            for v in operands]


def check_dtype(op, tensor, kinds="f", what="a floating-point tensor"):
    """Refuse a dtype the op does not take, as PyTorch does (bool relu, int softmax, ...).
    ``kinds``: the NumPy dtype kinds allowed ("b" bool, "i"/"u" integer, "f" float)."""
    if tensor.dtype.kind not in kinds:
        raise InvalidDtypeError(f"minicnn: {op}: expected {what}, got dtype {tensor.dtype}")


def wrap_dim(dim, ndim, op):
    """A dim in PyTorch's range -ndim <= dim < ndim (0-d tensors take -1 and 0) -> 0..ndim-1.

    Out of range is an IndexError with PyTorch's words: wrapping it (dim % ndim) would
    silently pick another axis, e.g. softmax over the batch.
    """
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"minicnn: {op}: dim must be an int, got {dim!r}")
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"minicnn: {op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def normalize_dims(dim, ndim, op):
    """None -> every axis; an int or a sequence of them -> a sorted tuple of axes.
    A 0-d tensor has no axis: its dim 0 (or -1) becomes ()."""
    if dim is None:
        return tuple(range(ndim))
    dims = [wrap_dim(d, ndim, op) for d in ((dim,) if isinstance(dim, (int, np.integer)) else dim)]
    repeated = [d for d in dims if dims.count(d) > 1]
    if repeated:
        raise InvalidValueError(f"minicnn: {op}: dim {repeated[0]} appears multiple times in {dim}")
    return tuple(sorted(dims)) if ndim else ()


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
        # integers and bools add up in int64, as in PyTorch (NumPy would sum uint8 as uint64)
        dtype = np.int64 if x.dtype.kind in "biu" else None
        return x.sum(axis=self.dims, keepdims=self.keepdim, dtype=dtype)

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
        with np.errstate(invalid="ignore"):     # the mean of nothing is NaN, as in PyTorch
            return x.sum(axis=self.dims, keepdims=self.keepdim) / self.count

    def backward(self, g):
        xp = backend.get_array_module(g)
        if not self.keepdim:
            g = g.reshape(_kept_shape(self.x_shape, self.dims))
        return xp.broadcast_to(g, self.x_shape) / self.count    # empty when count is 0


class Max(Function):
    """Max over dims; ties share the gradient equally (so it stays a true subgradient).
    A NaN is the max of its slice (NumPy and PyTorch agree) and takes the gradient."""
    settings = ("dims", "keepdim")

    def forward(self, x):
        out = x.max(axis=self.dims, keepdims=True)
        self.is_max = (x == out) | (x != x)        # x != x: NaN
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
# Binary ops take Tensors or Python numbers and promote them as PyTorch does (result_type).
def add(input, other):
    return Add.apply(*promote(input, other))


def sub(input, other):
    for operand in (input, other):      # PyTorch refuses any bool here, even True
        if isinstance(operand, bool) or isinstance(operand, Tensor) and operand.dtype == bool:
            raise InvalidDtypeError("minicnn: sub: expected numbers, not bools (use ~ to "
                                    "invert a mask, ^ for a bool difference)")
    return Sub.apply(*promote(input, other))


def mul(input, other):
    return Mul.apply(*promote(input, other))


def div(input, other):
    """True division: integers divide to the default float dtype, as in PyTorch."""
    return Div.apply(*promote(input, other, floating=True))


def pow(input, exponent):
    x, y = promote(input, exponent)
    check_dtype("pow", x, "iuf", "numbers, not bools")
    if x.dtype.kind in "iu" and isinstance(exponent, int) and exponent < 0:
        raise InvalidValueError(f"minicnn: pow: integers to negative integer powers are not "
                                f"allowed ({x.dtype} tensor ** {exponent}); use a float exponent")
    return Pow.apply(x, y)


def neg(input):
    check_dtype("neg", input, "iuf", "numbers, not bools (use ~ to invert a mask)")
    return Neg.apply(input)


# exp, log and sqrt of integers are floats (the default dtype), as in PyTorch
def exp(input):
    return Exp.apply(*promote(input, floating=True))


def log(input):
    return Log.apply(*promote(input, floating=True))


def sqrt(input):
    return Sqrt.apply(*promote(input, floating=True))


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
    return Sum.apply(input, dims=normalize_dims(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    check_dtype("mean", input)     # PyTorch: the mean of integers has no dtype to infer
    return Mean.apply(input, dims=normalize_dims(dim, input.ndim, "mean"), keepdim=keepdim)


def _check_not_empty(op, input, dims, error):
    """A max of nothing has no answer (a sum of nothing has: 0)."""
    empty = [d for d in dims if input.shape[d] == 0]
    if empty:
        raise error(f"minicnn: {op}: expected reduction dim {empty[0]} to have non-zero size, "
                    f"got input of shape {input.shape}")


def max(input, dim=None, keepdim=False):
    """Max over ``dim`` (all elements when None).  Unlike torch.max(x, dim) it returns
    only the values; use ``argmax`` for the indices."""
    dims = normalize_dims(dim, input.ndim, "max")
    # PyTorch's classes: RuntimeError for max() of an empty tensor, IndexError with a dim
    _check_not_empty("max", input, dims, InvalidValueError if dim is None else IndexError)
    return Max.apply(input, dims=dims, keepdim=keepdim)


def argmax(input, dim=None, keepdim=False):
    """Index of the largest element along ``dim``; with None, in the flattened tensor
    (and with keepdim, shaped like the input with every dim 1, as PyTorch)."""
    xp = backend.get_array_module(input.data)
    dims = normalize_dims(dim, input.ndim, "argmax")
    _check_not_empty("argmax", input, dims, IndexError)
    if dim is None or not dims:                     # the flattened tensor, or a 0-d one
        out = xp.argmax(input.data.reshape(-1))
        out = out.reshape((1,) * input.ndim if keepdim else ())
    else:
        out = xp.argmax(input.data, axis=dims[0], keepdims=keepdim)
    return Tensor(out.astype(np.int64))
