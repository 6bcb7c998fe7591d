"""Fully-connected and shape layers: ``Linear``, ``Flatten``, ``Identity``."""
from .. import functional as F
from . import init
from .module import Module, named_errors, new_parameter


class Linear(Module):
    """Fully-connected layer: y = x @ W.T + b.

    x: (N, ..., in_features) -> (N, ..., out_features).
    weight: (out_features, in_features), bias: (out_features,).
    As ``torch.nn.Linear``; the layer around ``F.linear``.  The weight and bias start as
    PyTorch's do: uniform(-1/sqrt(in_features), 1/sqrt(in_features))
    (``nn.init.default_init_``).

    Args:
        in_features (int): the size of each input sample's last dim.
        out_features (int): the size of each output sample's last dim.
        bias (bool, optional): learn an additive bias. Default: ``True``
        device (str, optional): where the parameters live, ``'cpu'`` or ``'cuda'``.
            Default: ``None`` (the CPU)
        dtype (numpy dtype, optional): the parameters' dtype. Default: ``None`` (float32)

    Shape:
        - Input: (*, in_features).
        - Output: (*, out_features).

    Attributes:
        weight (Parameter): (out_features, in_features).
        bias (Parameter or None): (out_features,).

    Example::

        >>> fc = nn.Linear(20, 30)
        >>> fc
        Linear(in_features=20, out_features=30, bias=True)
        >>> fc(mc.tensor(np.zeros((128, 20), np.float32))).shape
        (128, 30)
        >>> nn.Linear(4, 2, bias=False).bias is None
        True
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = new_parameter((out_features, in_features), dtype, device)
        self.register_parameter("bias", new_parameter((out_features,), dtype, device) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_init_(self.weight, self.bias)

    def forward(self, x):        # F.linear checks the input; named_errors names this layer
        return named_errors(self, F.linear, x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default.

    As ``torch.nn.Flatten``: the layer between a network's convolutions and its
    fully-connected classifier.  The default ``start_dim=1`` keeps the batch dim
    (``F.flatten``'s default, 0, does not).

    Args:
        start_dim (int, optional): the first dim to merge. Default: ``1``
        end_dim (int, optional): the last dim to merge (inclusive). Default: ``-1``

    Shape:
        - Input: (N, *dims).
        - Output: (N, product of dims) by default; in general the dims start_dim..end_dim
          merged into one.

    Example::

        >>> x = mc.tensor(np.zeros((32, 1, 5, 5), np.float32))
        >>> nn.Flatten()(x).shape
        (32, 25)
        >>> nn.Flatten(0, 2)(x).shape
        (160, 5)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; a placeholder (e.g. to cut a classifier off a model).

    As ``torch.nn.Identity``: replacing ``model.fc`` by one turns a classifier into a
    feature extractor.  Its arguments are accepted and ignored.

    Args:
        *args: ignored.
        **kwargs: ignored.

    Shape:
        - Input: (*), any shape.
        - Output: (*), the input itself.

    Example::

        >>> layer = nn.Identity(54, unused_argument=0.1)
        >>> x = mc.tensor([1.0, 2.0])
        >>> layer(x) is x
        True
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
