"""Activations: relu, sigmoid, tanh."""
from .. import backend, dispatch
from ..autograd import Function
from .elementwise import check_dtype, promote


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
    def forward(self, x):
        self.out = dispatch.kernel("relu_forward", x)(x)
        return self.out

    def backward(self, g):
        return dispatch.kernel("relu_backward", g)(g, self.out)


class Sigmoid(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        # split by sign so exp never overflows
        ez = xp.exp(-abs(x))
        self.out = xp.where(x >= 0, 1 / (1 + ez), ez / (1 + ez))
        return self.out

    def backward(self, g):
        return g * self.out * (1 - self.out)


class Tanh(Function):
    def forward(self, x):
        self.out = backend.get_array_module(x).tanh(x)
        return self.out

    def backward(self, g):
        return g * (1 - self.out * self.out)


def relu(input, inplace=False):
    """``inplace`` is accepted for PyTorch compatibility; minicnn never works in place."""
    check_dtype("relu", input, "iuf", "numbers, not bools")
    return ReLU.apply(input)


# sigmoid and tanh of integers are floats (the default dtype), as in PyTorch
def sigmoid(input):
    return Sigmoid.apply(*promote(input, floating=True))


def tanh(input):
    return Tanh.apply(*promote(input, floating=True))
