"""Activations: relu, sigmoid, tanh."""
from .. import backend, dispatch
from ..autograd import Function


# ReLU's array kernels: these NumPy references, or kernels/activation.cu on the GPU.
@dispatch.register("relu_forward", "numpy")
def relu_forward_numpy(x):
    """x -> max(x, 0); a NaN stays NaN."""
    return backend.get_array_module(x).maximum(x, 0)     # not x * mask: -inf * 0 would be NaN


@dispatch.register("relu_backward", "numpy")
def relu_backward_numpy(grad_out, out):
    """The gradient flows where the unit was active: out > 0, i.e. x > 0."""
    return grad_out * (out > 0)


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
    return ReLU.apply(input)


def sigmoid(input):
    return Sigmoid.apply(input)


def tanh(input):
    return Tanh.apply(input)
