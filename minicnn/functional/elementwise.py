"""Elementwise arithmetic, unary maths and reductions.

Binary ops broadcast like NumPy; their backward sums the gradient back down to
each input's shape (``unbroadcast``).
"""

import numpy as np

from .. import backend
from ..autograd import DEFAULT_FLOAT, Function, InvalidDtypeError, InvalidValueError, Tensor
from .arguments import check_dtype, normalize_dims, result_type


# ----- making operands: Tensors of one dtype ---------------------------------
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


def sum_to(g, shape):
    """``unbroadcast`` on Tensors, with minicnn's own ops (so it is differentiable): the
    double backward of every broadcasting op uses it."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = sum(g, dim=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return sum(g, dim=stretched, keepdim=True) if stretched else g


def constant(array):
    """A Tensor outside the graph (a mask, a sign): what a double backward multiplies by."""
    return Tensor(array)


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


# ----- binary ops: x (A...) op y (B...) -> broadcast shape ------------------
# The gradients go back to the inputs' shapes, which apply records (self.input_shapes).
class Add(Function):
    def forward(self, x, y):
        return x + y

    def backward(self, g):
        x_shape, y_shape = self.input_shapes
        return unbroadcast(g, x_shape), unbroadcast(g, y_shape)

    def backward_graph(self, g):
        x_shape, y_shape = self.input_shapes
        return sum_to(g, x_shape), sum_to(g, y_shape)


class Sub(Function):
    def forward(self, x, y):
        return x - y

    def backward(self, g):
        x_shape, y_shape = self.input_shapes
        return unbroadcast(g, x_shape), unbroadcast(-g, y_shape)

    def backward_graph(self, g):
        x_shape, y_shape = self.input_shapes
        return sum_to(g, x_shape), sum_to(-g, y_shape)


class Mul(Function):
    def forward(self, x, y):
        # gx needs y, gy needs x: keep only what a wanted gradient needs
        need_x, need_y = self.needs_input_grad
        self.save_for_backward(**({"y": y} if need_x else {}), **({"x": x} if need_y else {}))
        return x * y

    def backward(self, g):
        x_shape, y_shape = self.input_shapes
        gx = unbroadcast(g * self.y, x_shape) if self.needs_input_grad[0] else None
        gy = unbroadcast(g * self.x, y_shape) if self.needs_input_grad[1] else None
        return gx, gy

    def backward_graph(self, g):
        x_shape, y_shape = self.input_shapes
        gx = sum_to(g * self.input_tensor(1, self.y), x_shape) if self.needs_input_grad[0] else None
        gy = sum_to(g * self.input_tensor(0, self.x), y_shape) if self.needs_input_grad[1] else None
        return gx, gy


class Div(Function):
    def forward(self, x, y):
        self.save_for_backward(x=x, y=y)
        return x / y

    def backward(self, g):
        gx = unbroadcast(g / self.y, self.x.shape) if self.needs_input_grad[0] else None
        gy = unbroadcast(-g * self.x / (self.y * self.y), self.y.shape) if self.needs_input_grad[1] else None
        return gx, gy

    def backward_graph(self, g):
        x, y = self.input_tensor(0, self.x), self.input_tensor(1, self.y)
        gx = sum_to(g / y, x.shape) if self.needs_input_grad[0] else None
        gy = sum_to(-g * x / (y * y), y.shape) if self.needs_input_grad[1] else None
        return gx, gy


class Pow(Function):
    def forward(self, x, y):
        out = x ** y
        self.save_for_backward(x=x, y=y, out=out)
        return out

    def backward(self, g):
        xp = backend.get_array_module(g)
        gx = gy = None
        if self.needs_input_grad[0]:   # y x^(y-1), defined as 0 where y == 0 (x^0 is 1), as torch
            with np.errstate(divide="ignore", invalid="ignore"):    # 0 ** -1 where y == 0
                gx = xp.where(self.y == 0, 0, g * self.y * self.x ** (self.y - 1)).astype(g.dtype)
            gx = unbroadcast(gx, self.x.shape)
        if self.needs_input_grad[1]:   # d(x^y)/dy = x^y log x: 0 where x == 0 <= y, NaN where
            with np.errstate(divide="ignore", invalid="ignore"):    # x < 0, as in torch
                gy = xp.where((self.x == 0) & (self.y >= 0), 0,
                              g * self.out * xp.log(self.x)).astype(g.dtype)
            gy = unbroadcast(gy, self.y.shape)
        return gx, gy

    def backward_graph(self, g):
        # backward's two special cases, as masks: where y == 0 (resp. x == 0 <= y) the base
        # is replaced by 1, so x^(y-1) (resp. log x) stays finite, and the mask zeroes it
        x, y = self.input_tensor(0, self.x), self.input_tensor(1, self.y)
        gx = gy = None
        if self.needs_input_grad[0]:
            off = constant((self.y == 0).astype(g.dtype))
            gx = sum_to(g * y * (x * (1 - off) + off) ** (y - 1) * (1 - off), x.shape)
        if self.needs_input_grad[1]:
            off = constant(((self.x == 0) & (self.y >= 0)).astype(g.dtype))
            gy = sum_to(g * self.output_tensor(self.out) * log(x * (1 - off) + off), y.shape)
        return gx, gy


# ----- unary ops: x (...) -> (...) ------------------------------------------
class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g

    def backward_graph(self, g):
        return -g


class Exp(Function):
    def forward(self, x):
        out = backend.get_array_module(x).exp(x)
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        return g * self.out

    def backward_graph(self, g):
        return g * self.output_tensor(self.out)


class Log(Function):
    def forward(self, x):
        self.save_for_backward(x=x)
        return backend.get_array_module(x).log(x)

    def backward(self, g):
        return g / self.x

    def backward_graph(self, g):
        return g / self.input_tensor(0, self.x)


class Sqrt(Function):
    def forward(self, x):
        out = backend.get_array_module(x).sqrt(x)
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        return g / (2 * self.out)

    def backward_graph(self, g):
        return g / (2 * self.output_tensor(self.out))


class Abs(Function):
    def forward(self, x):
        self.save_for_backward(x=x)
        return backend.get_array_module(x).abs(x)   # not abs(): this module's abs takes Tensors

    def backward(self, g):
        return g * self._sign(g.dtype)

    def backward_graph(self, g):
        return g * constant(self._sign(g.dtype))

    def _sign(self, dtype):
        # sign(x); 0 at a NaN, as PyTorch's sgn (NumPy's sign(NaN) is NaN)
        xp = backend.get_array_module(self.x)
        return xp.where(self.x != self.x, 0, xp.sign(self.x)).astype(dtype, copy=False)


class ToDtype(Function):
    settings = ("dtype",)

    def forward(self, x):
        self.save_for_backward(x_dtype=x.dtype)
        return x.astype(self.dtype, copy=False)

    def backward(self, g):
        return g.astype(self.x_dtype, copy=False)

    def backward_graph(self, g):
        return to_dtype(g, self.x_dtype)


class ToDevice(Function):
    settings = ("device",)

    def forward(self, x):
        self.save_for_backward(x_device=backend.device_of(x))
        return backend.to_device(x, self.device)

    def backward(self, g):
        return backend.to_device(g, self.x_device)

    def backward_graph(self, g):
        return to_device(g, self.x_device)


# ----- reductions: x (...) -> x with `dims` removed (or kept as 1) ----------
class Sum(Function):
    settings = ("dims", "keepdim")

    def forward(self, x):
        # integers and bools add up in int64, as in PyTorch (NumPy would sum uint8 as uint64)
        # float16 adds up in float32 and rounds once, as in PyTorch
        dtype = np.int64 if x.dtype.kind in "biu" else _accumulator(x.dtype)
        return x.sum(axis=self.dims, keepdims=self.keepdim, dtype=dtype).astype(
            np.int64 if dtype == np.int64 else x.dtype, copy=False)

    def backward(self, g):
        xp = backend.get_array_module(g)
        x_shape = self.input_shapes[0]
        if not self.keepdim:
            g = g.reshape(_kept_shape(x_shape, self.dims))
        return xp.broadcast_to(g, x_shape).copy()

    def backward_graph(self, g):
        x_shape = self.input_shapes[0]
        return broadcast_to(g.reshape(_kept_shape(x_shape, self.dims)), x_shape)


class Mean(Function):
    settings = ("dims", "keepdim")

    def forward(self, x):
        with np.errstate(invalid="ignore"):     # the mean of nothing is NaN, as in PyTorch
            # float16 adds up in float32 (1000 x 100.0 would overflow), as in PyTorch
            total = x.sum(axis=self.dims, keepdims=self.keepdim, dtype=_accumulator(x.dtype))
            return (total / _count(x.shape, self.dims)).astype(x.dtype, copy=False)

    def backward(self, g):
        xp = backend.get_array_module(g)
        x_shape = self.input_shapes[0]
        if not self.keepdim:
            g = g.reshape(_kept_shape(x_shape, self.dims))
        return xp.broadcast_to(g, x_shape) / _count(x_shape, self.dims)   # empty when 0

    def backward_graph(self, g):
        x_shape = self.input_shapes[0]
        spread = broadcast_to(g.reshape(_kept_shape(x_shape, self.dims)), x_shape)
        return spread / _count(x_shape, self.dims) if spread.data.size else spread


class Max(Function):
    """Max over dims; ties share the gradient equally (so it stays a true subgradient).
    A NaN is the max of its slice (NumPy and PyTorch agree) and takes the gradient."""
    settings = ("dims", "keepdim")

    def forward(self, x):
        out = x.max(axis=self.dims, keepdims=True)
        self.save_for_backward(is_max=(x == out) | (x != x))        # x != x: NaN
        return out if self.keepdim else out.reshape(_reduced_shape(x.shape, self.dims))

    def backward(self, g):
        g = g.reshape(_kept_shape(self.input_shapes[0], self.dims))
        return g * self._share(g.dtype)

    def backward_graph(self, g):
        return g.reshape(_kept_shape(self.input_shapes[0], self.dims)) * constant(self._share(g.dtype))

    def _share(self, dtype):
        """Each input's share of its slice's gradient: 1/ties at a max, 0 elsewhere."""
        ties = self.is_max.sum(axis=self.dims, keepdims=True).astype(dtype)   # not int64
        return self.is_max / ties


class BroadcastTo(Function):
    """x (A...) -> (S...), repeated along the dims broadcasting adds or stretches (a copy).
    Backward sums the gradient back down: ``unbroadcast``."""
    settings = ("shape",)

    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape).copy()

    def backward(self, g):
        return unbroadcast(g, self.input_shapes[0])

    def backward_graph(self, g):
        return sum_to(g, self.input_shapes[0])


def _accumulator(dtype):
    """The dtype a float reduction adds up in: float32 for float16 (PyTorch's
    accumulate type on the CPU), else None (the input's own)."""
    return np.float32 if dtype == np.float16 else None


def _count(shape, dims):
    """How many values a reduction over ``dims`` of ``shape`` takes in."""
    return int(np.prod([shape[d] for d in dims]))


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


def _reduced_shape(shape, dims):
    return tuple(n for i, n in enumerate(shape) if i not in dims)


# ----- the functional API ---------------------------------------------------
# Binary ops take Tensors or Python numbers and promote them as PyTorch does (result_type).
def add(input, other):
    """Elementwise sum ``input + other``, as ``torch.add``; what ``x + y`` calls.

    Binary ops take Tensors or Python numbers and promote them as PyTorch does
    (``result_type``): a Python number does not widen a tensor's dtype (int64 + 1 stays
    int64, float32 + 2.5 stays float32), and an integer tensor meeting a float gives the
    float.  The operands broadcast like NumPy; backward sums the gradient back down to
    each input's shape (``unbroadcast``).

    Args:
        input (Tensor or number): the first operand.
        other (Tensor or number): the second operand; at least one of the two is a Tensor.

    Shape:
        - Input: ``input`` (*) and ``other`` (**), broadcastable to one shape as in NumPy.
        - Output: the broadcast shape (*).  Each input's gradient is summed back down to
          that input's own shape.

    Example::

        >>> F.add(mc.tensor([1.0, 2.0, 3.0]), 1)
        tensor([2., 3., 4.], dtype=float32)
        >>> mc.tensor([1.0, 2.0]) + mc.tensor([[10.0], [20.0]])
        tensor([[11., 12.],
                [21., 22.]], dtype=float32)
    """
    return Add.apply(*promote(input, other))


def sub(input, other):
    """Elementwise difference ``input - other``, as ``torch.sub``; what ``x - y`` calls.

    Broadcasting and dtype promotion as for ``add``.  Bools are refused, even a Python
    ``True``, as PyTorch does: a bool difference is ``^`` and an inverted mask ``~``.

    Args:
        input (Tensor or number): the value subtracted from.
        other (Tensor or number): the value subtracted; at least one of the two is a Tensor.

    Shape:
        - Input: ``input`` (*) and ``other`` (**), broadcastable to one shape as in NumPy.
        - Output: the broadcast shape (*).  Each input's gradient is summed back down to
          that input's own shape.

    Example::

        >>> F.sub(mc.tensor([5, 7]), 2)
        tensor([3, 5], dtype=int64)
        >>> 10.0 - mc.tensor([1.0, 2.5])
        tensor([9. , 7.5], dtype=float32)
    """
    for operand in (input, other):      # PyTorch refuses any bool here, even True
        if isinstance(operand, bool) or isinstance(operand, Tensor) and operand.dtype == bool:
            raise InvalidDtypeError("minicnn: sub: expected numbers, not bools (use ~ to "
                                    "invert a mask, ^ for a bool difference)")
    return Sub.apply(*promote(input, other))


def mul(input, other):
    """Elementwise product ``input * other``, as ``torch.mul``; what ``x * y`` calls.

    Broadcasting and dtype promotion as for ``add``: an integer tensor times a Python
    float is a float32 tensor (the float stands for PyTorch's default dtype).

    Args:
        input (Tensor or number): the first factor.
        other (Tensor or number): the second factor; at least one of the two is a Tensor.

    Shape:
        - Input: ``input`` (*) and ``other`` (**), broadcastable to one shape as in NumPy.
        - Output: the broadcast shape (*).  Each input's gradient is summed back down to
          that input's own shape.

    Example::

        >>> F.mul(mc.tensor([1, 2]), 2.5)
        tensor([2.5, 5. ], dtype=float32)
        >>> mc.tensor([[1.0], [2.0]]) * mc.tensor([1.0, 10.0])
        tensor([[ 1., 10.],
                [ 2., 20.]], dtype=float32)
    """
    return Mul.apply(*promote(input, other))


def div(input, other):
    """True division ``input / other``, as ``torch.div``; what ``x / y`` calls.

    Integers divide to the default float dtype (float32), as in PyTorch: ``1 / 4`` is
    a quarter, never 0.  Broadcasting as for ``add``.

    Args:
        input (Tensor or number): the dividend.
        other (Tensor or number): the divisor; at least one of the two is a Tensor.

    Shape:
        - Input: ``input`` (*) and ``other`` (**), broadcastable to one shape as in NumPy.
        - Output: the broadcast shape (*).  Each input's gradient is summed back down to
          that input's own shape.

    Example::

        >>> F.div(mc.tensor([1, 2]), 4)
        tensor([0.25, 0.5 ], dtype=float32)
        >>> mc.tensor([3.0, 6.0]) / mc.tensor([2.0, 4.0])
        tensor([1.5, 1.5], dtype=float32)
    """
    return Div.apply(*promote(input, other, floating=True))


def pow(input, exponent):
    """Elementwise power ``input ** exponent``, as ``torch.pow``; what ``x ** y`` calls.

    Broadcasting and dtype promotion as for ``add``.  Bools are refused, and so is an
    integer tensor to a negative integer power (PyTorch's rule: the result would not be an
    integer); use a float exponent.  The gradient with respect to the exponent is
    ``x**y * log(x)``, taken as 0 where ``x == 0``.

    Args:
        input (Tensor or number): the base.
        exponent (Tensor or number): the exponent; at least one of the two is a Tensor.

    Shape:
        - Input: ``input`` (*) and ``exponent`` (**), broadcastable to one shape as in NumPy.
        - Output: the broadcast shape (*).

    Example::

        >>> F.pow(mc.tensor([1.0, 2.0, 3.0]), 2)
        tensor([1., 4., 9.], dtype=float32)
        >>> 2 ** mc.tensor([0, 1, 10])
        tensor([   1,    2, 1024], dtype=int64)
    """
    x, y = promote(input, exponent)
    check_dtype("pow", x, "iuf", "numbers, not bools")
    if x.dtype.kind in "iu" and isinstance(exponent, int) and exponent < 0:
        raise InvalidValueError(f"minicnn: pow: integers to negative integer powers are not "
                                f"allowed ({x.dtype} tensor ** {exponent}); use a float exponent")
    return Pow.apply(x, y)


def neg(input):
    """Elementwise negation ``-input``, as ``torch.neg``; what ``-x`` calls.

    Bools are refused, as in PyTorch: use ``~`` to invert a mask.

    Args:
        input (Tensor): a tensor of numbers (integer or floating point).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.neg(mc.tensor([1.0, -2.0]))
        tensor([-1.,  2.], dtype=float32)
        >>> -mc.tensor([3, 0])
        tensor([-3,  0], dtype=int64)
    """
    check_dtype("neg", input, "iuf", "numbers, not bools (use ~ to invert a mask)")
    return Neg.apply(input)


# exp, log and sqrt of integers are floats (the default dtype), as in PyTorch
def exp(input):
    """Elementwise exponential ``e ** input``, as ``torch.exp``.

    The exp of integers is a float in the default dtype (float32), as in PyTorch.

    Args:
        input (Tensor): the exponent.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.exp(mc.tensor([0.0, 1.0], dtype=np.float64))
        tensor([1.        , 2.71828183], dtype=float64)
        >>> F.exp(mc.tensor([0, 1])).dtype
        dtype('float32')
    """
    return Exp.apply(*promote(input, floating=True))


def log(input):
    """Elementwise natural logarithm, as ``torch.log``.

    The log of integers is a float in the default dtype (float32), as in PyTorch.  The log
    of 0 is -inf and of a negative number NaN (NumPy's and PyTorch's answers).

    Args:
        input (Tensor): the values, > 0 for a finite result.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.log(mc.tensor([1.0, 100.0], dtype=np.float64))
        tensor([0.        , 4.60517019], dtype=float64)
        >>> F.log(mc.tensor([1, 100])).dtype
        dtype('float32')
    """
    return Log.apply(*promote(input, floating=True))


def sqrt(input):
    """Elementwise square root, as ``torch.sqrt``.

    The square root of integers is a float in the default dtype (float32), as in PyTorch.

    Args:
        input (Tensor): the values, >= 0 for a real result.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.sqrt(mc.tensor([4.0, 9.0]))
        tensor([2., 3.], dtype=float32)
    """
    return Sqrt.apply(*promote(input, floating=True))


def abs(input):
    """Elementwise absolute value ``|input|``, as ``torch.abs``.

    The gradient is ``sign(input)``: 0 at 0, where ``|x|`` has no derivative (PyTorch's
    choice too).

    Args:
        input (Tensor): the values.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape and dtype.

    Example::

        >>> F.abs(mc.tensor([-1.5, 2.0]))
        tensor([1.5, 2. ], dtype=float32)
    """
    check_dtype("abs", input, "iuf", "numbers, not bools")
    return Abs.apply(input)


def to_dtype(input, dtype):
    """Convert ``input`` to ``dtype`` (what ``x.to(np.float64)`` calls).

    A new tensor in the graph, or ``input`` itself when it already has that dtype.
    The cast stays in the graph: backward casts the gradient back to the input's dtype.

    Args:
        input (Tensor): the tensor to convert.
        dtype (numpy dtype or str): the dtype to convert to, e.g. ``np.float64``.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.to_dtype(mc.tensor([1, 2]), np.float64)
        tensor([1., 2.], dtype=float64)
        >>> x = mc.tensor([1.0])
        >>> F.to_dtype(x, np.float32) is x
        True
    """
    return input if input.dtype == dtype else ToDtype.apply(input, dtype=np.dtype(dtype))


def to_device(input, device):
    """Move ``input`` to ``device`` (what ``x.to('cuda')`` calls).

    A new tensor in the graph, or ``input`` itself when it is already there.  Backward
    moves the gradient back to the input's device.

    Args:
        input (Tensor): the tensor to move.
        device (str): a normalised device name, ``'cpu'`` or ``'cuda'`` (``F.to`` accepts
            ``'cuda:0'`` too and normalises it).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> x = mc.tensor([1.0, 2.0])
        >>> F.to_device(x, 'cpu') is x
        True
    """
    return input if input.device == device else ToDevice.apply(input, device=device)


def to(input, target):
    """``to('cuda')``, ``to('cpu')`` or ``to(np.float64)``: a new tensor in the graph.

    What ``Tensor.to`` calls.  A dtype converts (as ``to_dtype``), anything else names a
    device (as ``to_device``); either way the input itself comes back when nothing changes.

    Args:
        input (Tensor): the tensor to convert or move.
        target (str or numpy dtype): a device (``'cpu'``, ``'cuda'``, ``'cuda:1'``) or a dtype
            (``np.float64``, ``'float32'``).

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> x = mc.tensor([1, 2])
        >>> x.to(np.float32)
        tensor([1., 2.], dtype=float32)
        >>> F.to(x, 'cpu').device
        'cpu'
    """
    try:
        dtype = np.dtype(target)
    except TypeError:           # not a dtype, so it must name a device
        return to_device(input, backend.normalize_device(target))
    return to_dtype(input, dtype)


def sum(input, dim=None, keepdim=False):
    """Sum of the elements over ``dim`` (all of them when None), as ``torch.sum``.

    Integers and bools add up in int64, as in PyTorch (NumPy would sum uint8 as uint64).
    The sum of nothing is 0.

    Args:
        input (Tensor): the values.
        dim (int or tuple of ints, optional): the dim(s) to reduce, negative counting from
            the end. Default: ``None`` (every dim: a 0-d result).
        keepdim (bool, optional): keep each reduced dim as size 1. Default: ``False``.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape without the reduced dims (with them as 1 when
          ``keepdim=True``); () when ``dim`` is None.

    Example::

        >>> x = mc.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> F.sum(x)
        tensor(10., dtype=float32)
        >>> x.sum(dim=0)
        tensor([4., 6.], dtype=float32)
        >>> F.sum(x, dim=1, keepdim=True).shape
        (2, 1)
    """
    return Sum.apply(input, dims=normalize_dims(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    """Mean of the elements over ``dim`` (all of them when None), as ``torch.mean``.

    Floating-point inputs only, as in PyTorch: the mean of integers has no dtype to infer
    (convert first, e.g. ``x.to(np.float32)``).  The mean of nothing is NaN.

    Args:
        input (Tensor): floating-point values.
        dim (int or tuple of ints, optional): the dim(s) to reduce, negative counting from
            the end. Default: ``None`` (every dim: a 0-d result).
        keepdim (bool, optional): keep each reduced dim as size 1. Default: ``False``.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape without the reduced dims (with them as 1 when
          ``keepdim=True``); () when ``dim`` is None.

    Example::

        >>> x = mc.tensor([[1.0, 2.0], [3.0, 4.0]])
        >>> F.mean(x)
        tensor(2.5, dtype=float32)
        >>> F.mean(x, dim=0, keepdim=True)
        tensor([[2., 3.]], dtype=float32)
    """
    check_dtype("mean", input)     # PyTorch: the mean of integers has no dtype to infer
    return Mean.apply(input, dims=normalize_dims(dim, input.ndim, "mean"), keepdim=keepdim)


def _check_not_empty(op, input, dims, error):
    """A max of nothing has no answer (a sum of nothing has: 0)."""
    empty = [d for d in dims if input.shape[d] == 0]
    if empty:
        raise error(f"minicnn: {op}: expected reduction dim {empty[0]} to have non-zero size, "
                    f"got input of shape {input.shape}")


def max(input, dim=None, keepdim=False):
    """Max over ``dim`` (all elements when None).

    Unlike torch.max(x, dim) it returns only the values; use ``argmax`` for the indices.
    Ties share the gradient equally (so it stays a true subgradient); a NaN is the max of
    its slice (NumPy and PyTorch agree) and takes the gradient.  A max over an empty dim
    is an error, as in PyTorch.

    Args:
        input (Tensor): the values.
        dim (int or tuple of ints, optional): the dim(s) to reduce. Default: ``None`` (every
            dim: a 0-d result).
        keepdim (bool, optional): keep each reduced dim as size 1. Default: ``False``.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape without the reduced dims (with them as 1 when
          ``keepdim=True``); () when ``dim`` is None.

    Example::

        >>> x = mc.tensor([[1.0, 5.0], [7.0, 2.0]])
        >>> F.max(x)
        tensor(7., dtype=float32)
        >>> F.max(x, dim=1)
        tensor([5., 7.], dtype=float32)
    """
    dims = normalize_dims(dim, input.ndim, "max")
    # PyTorch's classes: RuntimeError for max() of an empty tensor, IndexError with a dim
    _check_not_empty("max", input, dims, InvalidValueError if dim is None else IndexError)
    return Max.apply(input, dims=dims, keepdim=keepdim)


def argmax(input, dim=None, keepdim=False):
    """Index of the largest element along ``dim``, as ``torch.argmax``.

    With None, in the flattened tensor (and with keepdim, shaped like the input with every
    dim 1, as PyTorch).  The result is an int64 tensor outside the graph (indices have no
    gradient).

    Args:
        input (Tensor): the values.
        dim (int, optional): the dim to search along. Default: ``None`` (the flattened tensor).
        keepdim (bool, optional): keep the searched dim as size 1. Default: ``False``.

    Shape:
        - Input: (*), any shape.
        - Output: the input's shape without ``dim`` (kept as 1 when ``keepdim=True``); ()
          when ``dim`` is None.

    Example::

        >>> x = mc.tensor([[1.0, 5.0], [7.0, 2.0]])
        >>> F.argmax(x)
        tensor(2, dtype=int64)
        >>> F.argmax(x, dim=1)
        tensor([1, 0], dtype=int64)
    """
    xp = backend.get_array_module(input.data)
    dims = normalize_dims(dim, input.ndim, "argmax")
    _check_not_empty("argmax", input, dims, IndexError)
    if dim is None or not dims:                     # the flattened tensor, or a 0-d one
        out = xp.argmax(input.data.reshape(-1))
        out = out.reshape((1,) * input.ndim if keepdim else ())
    else:
        out = xp.argmax(input.data, axis=dims[0], keepdims=keepdim)
    return Tensor(out.astype(np.int64))


def broadcast_to(input, shape):
    """``input`` repeated to ``shape`` by NumPy's broadcasting rules, as ``torch.broadcast_to``.

    Dims are matched from the end; a dim of size 1 stretches, new dims are added in front.
    The result is a copy (PyTorch's is a view; minicnn has none).  Backward sums the
    gradient back down to the input's shape.

    Args:
        input (Tensor): the tensor to broadcast.
        shape (tuple of ints): the target shape; -1 keeps the input's size in that dim.

    Shape:
        - Input: (*), broadcastable to ``shape``.
        - Output: ``shape``.

    Example::

        >>> F.broadcast_to(mc.tensor([1.0, 2.0]), (2, 2))
        tensor([[1., 2.],
                [1., 2.]], dtype=float32)
    """
    shape = tuple(int(n) for n in shape)
    lead = len(shape) - input.ndim
    if lead < 0:
        raise InvalidValueError(f"minicnn: broadcast_to: cannot broadcast a tensor of shape "
                                f"{input.shape} to fewer dims, {shape}")
    shape = tuple(input.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(shape))
    if any(n != m and n != 1 for n, m in zip(input.shape, shape[lead:])) or min(shape, default=0) < 0:
        raise InvalidValueError(f"minicnn: broadcast_to: the shape {input.shape} does not "
                                f"broadcast to {shape}")
    return BroadcastTo.apply(input, shape=shape)
