"""Activations: relu, leaky_relu, hardtanh, relu6, sigmoid, tanh."""
import numbers

from .. import backend, dispatch
from ..autograd import Function
from .arguments import check_dtype
from .elementwise import constant, promote


# ReLU's array kernels: these NumPy references, or kernels/activation.cu on the GPU.
@dispatch.register("relu_forward", "numpy")
def relu_forward_numpy(x):
    """x -> max(x, 0); a NaN stays NaN."""
    return backend.get_array_module(x).maximum(x, 0)     # not x * mask: -inf * 0 would be NaN


@dispatch.register("relu_backward", "numpy")
def relu_backward_numpy(grad_out, out):
    """The gradient is 0 where the unit was off (out <= 0) and flows everywhere else, a NaN
    output included: PyTorch's threshold_backward.  (grad_out * (out > 0) would stop the
    gradient at a NaN and turn an infinite gradient at an off unit into NaN.)"""
    return backend.get_array_module(out).where(out <= 0, grad_out.dtype.type(0), grad_out)


class ReLU(Function):
    # Saves its output, not its input: the next layer usually keeps it alive anyway.
    in_place_in_models = True

    def forward(self, x):
        # the fast kernels take floats; integers (no gradient) take the reference, on any device
        relu = dispatch.kernel("relu_forward", x) if x.dtype.kind == "f" else relu_forward_numpy
        out = relu(x)
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        return dispatch.kernel("relu_backward", g)(g, self.out)

    def backward_graph(self, g):             # a mask: ReLU is linear where it is not 0
        return g * constant((~(self.out <= 0)).astype(g.dtype))


class LeakyReLU(Function):
    """x where x > 0, else negative_slope * x: a unit that is off still passes a little gradient."""
    settings = ("negative_slope",)

    def forward(self, x):                    # x: any shape -> same shape
        self.save_for_backward(x=x)
        return backend.get_array_module(x).where(x > 0, x, x * self.negative_slope)

    def backward(self, g):
        # slope 1 where x > 0, else negative_slope: at 0, and at a NaN, as PyTorch
        return backend.get_array_module(g).where(self.x > 0, g, g * self.negative_slope)

    def backward_graph(self, g):
        xp = backend.get_array_module(self.x)
        return g * constant(xp.where(self.x > 0, 1, self.negative_slope).astype(g.dtype))


class Hardtanh(Function):
    """x clipped to [min_val, max_val]; relu6 is hardtanh(x, 0, 6)."""
    settings = ("min_val", "max_val")

    def forward(self, x):                    # x: any shape -> same shape
        self.save_for_backward(x=x)
        return backend.get_array_module(x).clip(x, self.min_val, self.max_val)   # NaN stays NaN

    def backward(self, g):
        # no gradient where clipped, the bounds included (PyTorch's rule); a NaN passes it
        return backend.get_array_module(g).where(self._clipped(), 0, g)

    def backward_graph(self, g):
        return g * constant((~self._clipped()).astype(g.dtype))

    def _clipped(self):
        return (self.x <= self.min_val) | (self.x >= self.max_val)


class Sigmoid(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        # split by sign so exp never overflows
        ez = xp.exp(-abs(x))
        out = xp.where(x >= 0, 1 / (1 + ez), ez / (1 + ez))
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        return g * self.out * (1 - self.out)

    def backward_graph(self, g):
        out = self.output_tensor(self.out)
        return g * out * (1 - out)


class Tanh(Function):
    def forward(self, x):
        out = backend.get_array_module(x).tanh(x)
        self.save_for_backward(out=out)
        return out

    def backward(self, g):
        return g * (1 - self.out * self.out)

    def backward_graph(self, g):
        out = self.output_tensor(self.out)
        return g * (1 - out * out)


def relu(input, inplace=False):
    """Rectified linear unit, max(0, x) elementwise, as ``torch.nn.functional.relu``.

    ``inplace`` is accepted for PyTorch compatibility; minicnn never works in place.  A NaN
    stays NaN.  The gradient is 1 where the output is positive and 0 elsewhere (0 at x = 0,
    PyTorch's choice).  Integers are fine (their output stays integer); bools are refused.

    Args:
        input (Tensor): the values.
        inplace (bool, optional): accepted and ignored. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.relu(mc.tensor([-1.0, 2.0]))
        tensor([0., 2.], dtype=float32)
        >>> mc.tensor([[-3, 0, 4]]).relu()
        tensor([[0, 0, 4]], dtype=int64)
    """
    check_dtype("relu", input, "iuf", "numbers, not bools")
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x > 0, else ``negative_slope * x``, as ``torch.nn.functional.leaky_relu``.

    ``inplace`` is accepted for PyTorch compatibility; minicnn never works in place.  A unit
    that is off still passes a little gradient (``negative_slope``), so it cannot die the
    way a ReLU unit stuck below 0 does.  Floating-point inputs only, as in PyTorch.

    Args:
        input (Tensor): floating-point values.
        negative_slope (float, optional): the slope for x <= 0. Default: ``0.01``
        inplace (bool, optional): accepted and ignored. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.leaky_relu(mc.tensor([-2.0, 0.0, 3.0]))
        tensor([-0.02,  0.  ,  3.  ], dtype=float32)
        >>> F.leaky_relu(mc.tensor([-2.0, 3.0]), negative_slope=0.5)
        tensor([-1.,  3.], dtype=float32)
    """
    check_dtype("leaky_relu", input)          # PyTorch has no integer leaky_relu either
    if not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"minicnn: leaky_relu: negative_slope must be a number, got {negative_slope!r}")
    return LeakyReLU.apply(input, negative_slope=input.dtype.type(negative_slope))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clipped to [min_val, max_val], as ``torch.nn.functional.hardtanh``.

    ``inplace`` is accepted for PyTorch compatibility; minicnn never works in place.  The
    gradient is 1 strictly inside the bounds and 0 where x is clipped, the bounds included
    (PyTorch's rule).  Integer inputs clip to integer bounds, as in PyTorch.

    Args:
        input (Tensor): the values (numbers, not bools).
        min_val (float, optional): the lower bound. Default: ``-1.0``
        max_val (float, optional): the upper bound, at least ``min_val``. Default: ``1.0``
        inplace (bool, optional): accepted and ignored. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.hardtanh(mc.tensor([-3.0, -0.5, 0.5, 3.0]))
        tensor([-1. , -0.5,  0.5,  1. ], dtype=float32)
        >>> F.hardtanh(mc.tensor([-3, 1, 9]), min_val=0, max_val=5)
        tensor([0, 1, 5], dtype=int64)
    """
    check_dtype("hardtanh", input, "iuf", "numbers, not bools")
    for name, value in (("min_val", min_val), ("max_val", max_val)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"minicnn: hardtanh: {name} must be a number, got {value!r}")
    if min_val > max_val:
        raise ValueError(f"minicnn: hardtanh: min_val cannot be greater than max_val, got "
                         f"min_val={min_val}, max_val={max_val}")
    bound = input.dtype.type            # integers clip to integer bounds, as in PyTorch
    return Hardtanh.apply(input, min_val=bound(min_val), max_val=bound(max_val))


def relu6(input, inplace=False):
    """min(max(x, 0), 6): hardtanh(x, 0, 6) (MobileNet's activation).

    As ``torch.nn.functional.relu6``.  The cap keeps activations small enough for
    low-precision arithmetic.  ``inplace`` is accepted for PyTorch compatibility; minicnn
    never works in place.

    Args:
        input (Tensor): the values (numbers, not bools).
        inplace (bool, optional): accepted and ignored. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.relu6(mc.tensor([-1.0, 3.0, 8.0]))
        tensor([0., 3., 6.], dtype=float32)
    """
    return hardtanh(input, 0.0, 6.0)


# sigmoid and tanh of integers are floats (the default dtype), as in PyTorch
def sigmoid(input):
    """The logistic function 1 / (1 + exp(-x)) elementwise, as ``torch.sigmoid``.

    Computed by the sign of x so that exp never overflows (-1000 and 1000 give 0 and 1, no
    warning).  Sigmoid and tanh of integers are floats (the default dtype), as in PyTorch.
    The gradient is y * (1 - y), from the saved output y.

    Args:
        input (Tensor): the values.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.sigmoid(mc.tensor([0.0, 2.0], dtype=np.float64))
        tensor([0.5       , 0.88079708], dtype=float64)
        >>> F.sigmoid(mc.tensor([-1000.0, 1000.0]))
        tensor([0., 1.], dtype=float32)
    """
    return Sigmoid.apply(*promote(input, floating=True))


def tanh(input):
    """Hyperbolic tangent elementwise, as ``torch.tanh``.

    Sigmoid and tanh of integers are floats (the default dtype), as in PyTorch.  The
    gradient is 1 - y**2, from the saved output y.

    Args:
        input (Tensor): the values.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> F.tanh(mc.tensor([0.0, 1.0], dtype=np.float64))
        tensor([0.        , 0.76159416], dtype=float64)
        >>> F.tanh(mc.tensor([-1, 0, 1])).dtype
        dtype('float32')
    """
    return Tanh.apply(*promote(input, floating=True))
