"""Dropout layer (inverted dropout: identity in eval mode)."""
import numbers

from .. import functional as F
from .module import Module


class Dropout(Module):
    """Zero each unit with probability ``p`` in training and scale the rest by 1/(1-p).
    Setting ``module.p = 0`` turns it off while keeping the module (the parity tests do)."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"minicnn: Dropout: p must be between 0 and 1, got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
