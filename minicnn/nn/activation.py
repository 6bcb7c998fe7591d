"""Activation layers."""
from .. import functional as F
from .module import Module, named_errors


class ReLU(Module):
    """Rectified linear unit, max(0, x), as ``torch.nn.ReLU``.

    ``inplace`` is accepted (and shown) for PyTorch compatibility; minicnn never
    overwrites its input.  The layer around ``F.relu``.

    Args:
        inplace (bool, optional): accepted (and shown) for PyTorch compatibility; minicnn
            never overwrites its input. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> relu = nn.ReLU()
        >>> relu(mc.tensor([-1.0, 0.5, 2.0]))
        tensor([0. , 0.5, 2. ], dtype=float32)
        >>> nn.ReLU(inplace=True)
        ReLU(inplace=True)
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """Hyperbolic tangent, (e^x - e^-x) / (e^x + e^-x), as ``torch.nn.Tanh``: LeNet-5's
    squashing function.  The layer around ``F.tanh``.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape, values in (-1, 1).

    Example::

        >>> tanh = nn.Tanh()
        >>> tanh(mc.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.7615942,  0.       ,  0.9640276], dtype=float32)
        >>> tanh
        Tanh()
    """

    def forward(self, x):
        return F.tanh(x)


class LeakyReLU(Module):
    """x where x > 0, else ``negative_slope * x``.  ``inplace``: as for ReLU.

    As ``torch.nn.LeakyReLU``; the layer around ``F.leaky_relu``.  A unit that is off still
    passes a little gradient, so it cannot die the way a ReLU unit stuck below 0 does.

    Args:
        negative_slope (float, optional): the slope for x <= 0. Default: ``0.01``
        inplace (bool, optional): accepted (and shown) for PyTorch compatibility; minicnn
            never overwrites its input. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> act = nn.LeakyReLU(0.2)
        >>> act
        LeakyReLU(negative_slope=0.2)
        >>> act(mc.tensor([-1.0, 0.0, 2.0]))
        tensor([-0.2,  0. ,  2. ], dtype=float32)
    """

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return named_errors(self, F.leaky_relu, x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Hardtanh(Module):
    """x clipped to [min_val, max_val].  ``inplace``: as for ReLU.

    As ``torch.nn.Hardtanh``; the layer around ``F.hardtanh``.

    Args:
        min_val (float, optional): the lower bound. Default: ``-1.0``
        max_val (float, optional): the upper bound. Default: ``1.0``
        inplace (bool, optional): accepted (and shown) for PyTorch compatibility; minicnn
            never overwrites its input. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> act = nn.Hardtanh()
        >>> act
        Hardtanh(min_val=-1.0, max_val=1.0)
        >>> act(mc.tensor([-2.0, 0.25, 2.0]))
        tensor([-1.  ,  0.25,  1.  ], dtype=float32)
    """

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return named_errors(self, F.hardtanh, x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6), MobileNet's activation.  ``inplace``: as for ReLU.

    As ``torch.nn.ReLU6``: ``Hardtanh(0.0, 6.0)``, the layer around ``F.relu6``.

    Args:
        inplace (bool, optional): accepted (and shown) for PyTorch compatibility; minicnn
            never overwrites its input. Default: ``False``

    Shape:
        - Input: (*), any shape.
        - Output: (*), the same shape.

    Example::

        >>> nn.ReLU6()(mc.tensor([-1.0, 3.0, 8.0]))
        tensor([0., 3., 6.], dtype=float32)
    """

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""
