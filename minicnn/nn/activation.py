"""Activation layers."""
from .. import functional as F
from .module import Module


class ReLU(Module):
    """max(0, x).  ``inplace`` is accepted (and shown) for PyTorch compatibility;
    minicnn never overwrites its input."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""
