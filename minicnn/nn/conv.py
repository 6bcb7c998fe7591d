"""Convolution layer."""
import numbers

from .. import functional as F
from ..functional.arguments import check_padding_string
from ..geometry import pair
from . import init
from .module import Module, named_errors, new_parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every framework).

    As ``torch.nn.Conv2d``; the layer around ``F.conv2d``.  ``groups=g`` splits the channels
    into g independent convolutions (AlexNet's two GPUs).  The weight and bias start as
    PyTorch's do: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = in_channels/groups * kh * kw (``nn.init.default_init_``).

    Args:
        in_channels (int): channels of the input.
        out_channels (int): channels of the output (the number of filters).
        kernel_size (int or (int, int)): the filters' height and width.
        stride (int or (int, int), optional): the step between windows. Default: ``1``
        padding (int, (int, int) or str, optional): zeros added on each side, or
            ``'valid'`` (none) or ``'same'`` (stride 1, output as large as the input).
            Default: ``0``
        dilation (int or (int, int), optional): the spacing between a filter's taps.
            Default: ``1``
        groups (int, optional): how many independent blocks the channels split into; both
            channel counts must divide by it. Default: ``1``
        bias (bool, optional): learn a bias per output channel. Default: ``True``
        padding_mode (str, optional): only ``'zeros'`` is supported. Default: ``'zeros'``
        device (str, optional): where the parameters live, ``'cpu'`` or ``'cuda'``.
            Default: ``None`` (the CPU)
        dtype (numpy dtype, optional): the parameters' dtype. Default: ``None`` (float32)

    Shape:
        - Input: (N, in_channels, H, W) or (in_channels, H, W).
        - Output: (N, out_channels, OH, OW) or (out_channels, OH, OW), with
          OH = floor((H + 2*padding - dilation*(kernel-1) - 1) / stride) + 1 (OW likewise).

    Attributes:
        weight (Parameter): (out_channels, in_channels/groups, kh, kw).
        bias (Parameter or None): (out_channels,).

    Example::

        >>> conv = nn.Conv2d(3, 16, 3, padding=1)
        >>> conv
        Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
        >>> conv(mc.tensor(np.zeros((2, 3, 32, 32), np.float32))).shape
        (2, 16, 32, 32)
        >>> conv.weight.shape
        (16, 3, 3, 3)
        >>> nn.Conv2d(3, 8, 5, stride=2)(mc.tensor(np.zeros((3, 32, 32), np.float32))).shape
        (8, 14, 14)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        layer = f"Conv2d({in_channels}, {out_channels})"
        name = f"minicnn: {layer}"
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels),
                           ("groups", groups)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                raise TypeError(f"{name}: {arg} must be an int, got {value!r}")
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels and out_channels must both be divisible by "
                             f"groups={groups}")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{name}: only padding_mode='zeros' is supported, "
                                      f"got {padding_mode!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = pair(kernel_size, "kernel_size", layer, minimum=1)
        self.stride = pair(stride, "stride", layer, minimum=1)
        if isinstance(padding, str):      # checked now, as PyTorch does, not at the first forward
            check_padding_string(padding, self.stride, layer)
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", layer, minimum=0)
        self.dilation = pair(dilation, "dilation", layer, minimum=1)
        self.groups, self.padding_mode = groups, padding_mode
        self.weight = new_parameter((out_channels, in_channels // groups) + self.kernel_size,
                                    dtype, device)
        self.register_parameter("bias", new_parameter((out_channels,), dtype, device) if bias else None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_init_(self.weight, self.bias)

    def forward(self, x):        # F.conv2d checks the input; named_errors names this layer
        return named_errors(self, F.conv2d, x, self.weight, self.bias, self.stride,
                            self.padding, self.dilation, self.groups)

    def extra_repr(self):   # PyTorch's format: defaults are left out
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
