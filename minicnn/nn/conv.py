"""Convolution layer."""
import numbers

from .. import functional as F
from ..functional.conv import check_padding_string
from ..geometry import pair
from . import init
from .module import Module, describe, named_errors, new_parameter


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every framework).

    x: (N, in_channels, H, W) -> (N, out_channels, OH, OW), or unbatched
    (in_channels, H, W) -> (out_channels, OH, OW), with
    OH = floor((H + 2*padding - dilation*(kernel-1) - 1) / stride) + 1.
    weight: (out_channels, in_channels/groups, kh, kw), bias: (out_channels,).
    ``groups=g`` splits the channels into g independent convolutions (AlexNet's two GPUs).
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

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"{describe(self)}: expected a 4-D input (N, {self.in_channels}, H, W) "
                             f"or a 3-D one ({self.in_channels}, H, W), got {x.shape}")
        if x.shape[-3] != self.in_channels:
            raise ValueError(f"{describe(self)}: expected input with {self.in_channels} channels, "
                             f"got {x.shape}")
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
