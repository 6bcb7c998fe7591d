"""minicnn.functional: every differentiable op, with PyTorch's names and arguments.

Use it as ``import minicnn.functional as F``.  One file per family of ops; this
module gathers them and attaches the usual methods and operators to ``Tensor``.
"""
from ..autograd import Tensor
from .elementwise import (add, sub, mul, div, pow, neg, exp, log, sqrt, abs, broadcast_to,
                          sum, mean, max, argmax, to, to_dtype, to_device)
from .shape import reshape, view, permute, transpose, flatten, getitem, cat, stack
from .linalg import matmul, linear
from .activation import relu, leaky_relu, hardtanh, relu6, sigmoid, tanh
from .loss import softmax, log_softmax, cross_entropy, mse_loss
from .pool import max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d
from .norm import batch_norm, sync_batch_norm, local_response_norm
from .dropout import dropout, dropout2d, stochastic_depth
from .conv import im2col, col2im, conv2d


def _install_tensor_methods():
    """Give Tensor the operators and methods PyTorch users expect (x + y, x.sum(), ...)."""
    def swap(op):               # other - self, other / self, ...: Python numbers included
        return lambda self, other: op(other, self)

    methods = {
        "__add__": add, "__radd__": add, "__sub__": sub, "__rsub__": swap(sub),
        "__mul__": mul, "__rmul__": mul, "__truediv__": div, "__rtruediv__": swap(div),
        "__pow__": pow, "__rpow__": swap(pow), "__neg__": neg,
        "__matmul__": matmul, "__rmatmul__": swap(matmul), "__getitem__": getitem,
        "add": add, "sub": sub, "mul": mul, "div": div, "pow": pow, "neg": neg,
        "exp": exp, "log": log, "sqrt": sqrt, "abs": abs, "relu": relu,
        "sigmoid": sigmoid, "tanh": tanh, "sum": sum, "mean": mean, "max": max,
        "argmax": argmax, "matmul": matmul, "reshape": reshape, "view": view,
        "permute": permute, "transpose": transpose, "flatten": flatten,
        "softmax": softmax, "log_softmax": log_softmax, "to": to,
    }
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
    Tensor.T = property(lambda self: permute(self, *reversed(range(self.ndim))))


_install_tensor_methods()
