"""Activations: relu, sigmoid, tanh."""
import numpy as np

from .. import backend, cuda
from ..autograd import Function


class ReLU(Function):
    def forward(self, x):
        if backend.get_array_module(x) is not np:      # CuPy: kernels/activation.cu
            self.out = cuda.ops().relu_forward(x)
            return self.out
        self.positive = x > 0
        return np.maximum(x, 0)      # not x * mask: -inf * 0 would be NaN

    def backward(self, g):
        if backend.get_array_module(g) is not np:
            return cuda.ops().relu_backward(g, self.out)
        return g * self.positive


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
