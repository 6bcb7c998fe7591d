"""Pooling layers: max, average, adaptive average and adaptive max pooling."""
from .. import functional as F
from .module import Module, named_errors


class MaxPool2d(Module):
    """Max over kernel_size windows.  (N, C, H, W) -> (N, C, OH, OW); padding counts as -inf.
    ``ceil_mode=True`` rounds the output size up (GoogLeNet uses it)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        if return_indices:
            raise NotImplementedError("minicnn: MaxPool2d: return_indices=True is not supported")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        return named_errors(self, F.max_pool2d, x, self.kernel_size, self.stride, self.padding,
                            self.dilation, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """Mean over kernel_size windows.  With ``count_include_pad`` (default) padded zeros
    count in the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, x):
        return named_errors(self, F.avg_pool2d, x, self.kernel_size, self.stride, self.padding,
                            self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input size:
    (N, C, H, W) -> (N, C, *output_size).  (1, 1) is global average pooling."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return named_errors(self, F.adaptive_avg_pool2d, x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size, whatever the input size:
    (N, C, H, W) -> (N, C, *output_size); bin i of an axis covers
    [floor(i*In/Out), ceil((i+1)*In/Out)).  ``return_indices``: also the argmax of each
    output, a flat index into its H*W input plane."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return named_errors(self, F.adaptive_max_pool2d, x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"
