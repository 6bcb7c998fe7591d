"""Dropout layer (inverted dropout: identity in eval mode)."""
import numbers

from .. import functional as F
from .module import Module, named_errors


class Dropout(Module):
    """Zero each unit with probability ``p`` in training and scale the rest by 1/(1-p).

    As ``torch.nn.Dropout``; the layer around ``F.dropout``.  Inverted dropout: in eval mode
    (``model.eval()``) it is the identity, and the scaling keeps every unit's expected value
    the same in both modes.  Setting ``module.p = 0`` turns it off while keeping the module
    (the parity tests do).  The masks come from minicnn's global generator
    (``mc.manual_seed``).

    Args:
        p (float, optional): the probability of zeroing a unit, in [0, 1]. Default: ``0.5``
        inplace (bool, optional): accepted (and shown) for PyTorch compatibility; minicnn
            never works in place. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> mc.manual_seed(0)
        >>> drop = nn.Dropout(p=0.5)
        >>> x = mc.tensor(np.ones(6, np.float32))
        >>> drop(x)
        tensor([2., 2., 2., 0., 0., 0.], dtype=float32)
        >>> drop.eval()(x) is x
        True
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"minicnn: Dropout: p must be between 0 and 1, got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class StochasticDepth(Module):
    """Drop a residual branch per sample (``mode="row"``) or per batch (``"batch"``) with
    probability ``p`` in training, scaling kept ones by 1/(1-p); the identity in eval mode.
    As ``torchvision.ops.StochasticDepth``; the layer around ``F.stochastic_depth``.

    Args:
        p (float): the probability of dropping the branch, in [0, 1].
        mode (str): ``"row"`` or ``"batch"``.

    Shape:
        - Input: (N, *).
        - Output: the same shape.

    Example::

        >>> mc.manual_seed(0)
        >>> drop = nn.StochasticDepth(p=0.5, mode="row")
        >>> drop(mc.tensor(np.ones((4, 2), np.float32)))[:, 0]
        tensor([2., 2., 2., 0.], dtype=float32)
        >>> drop
        StochasticDepth(p=0.5, mode=row)
    """

    def __init__(self, p, mode):
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x):
        return named_errors(self, F.stochastic_depth, x, self.p, self.mode, self.training)

    def extra_repr(self):
        return f"p={self.p}, mode={self.mode}"
