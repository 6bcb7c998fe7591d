"""Fully-connected and shape layers: ``Linear``, ``Flatten``, ``Identity``."""
from .. import functional as F
from ..autograd import InvalidValueError
from . import init
from .module import Module, describe, new_parameter


class Linear(Module):
    """y = x @ W.T + b.  x: (N, ..., in_features) -> (N, ..., out_features).
    weight: (out_features, in_features), bias: (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = new_parameter((out_features, in_features), dtype, device)
        self.register_parameter("bias", new_parameter((out_features,), dtype, device) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_init_(self.weight, self.bias)

    def forward(self, x):
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise InvalidValueError(f"{describe(self)}: expected input with {self.in_features} "
                             f"features in its last dim, got {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; a placeholder (e.g. to cut a classifier off a model)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
