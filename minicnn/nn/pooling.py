"""Pooling layers: max, average, adaptive average and adaptive max pooling."""
from .. import functional as F
from .module import Module, named_errors


class MaxPool2d(Module):
    """Max over kernel_size windows, as ``torch.nn.MaxPool2d``.

    (N, C, H, W) -> (N, C, OH, OW); padding counts as -inf.  ``ceil_mode=True`` rounds the
    output size up (GoogLeNet uses it).  The layer around ``F.max_pool2d``.  Pooling halves
    a feature map (with the usual 2x2 windows, stride 2) and makes the features a little
    insensitive to small shifts.

    Args:
        kernel_size (int or (int, int)): the window's height and width.
        stride (int or (int, int), optional): the step between windows.
            Default: ``None`` (``kernel_size``)
        padding (int or (int, int), optional): implicit -inf on each side, at most half the
            kernel. Default: ``0``
        dilation (int or (int, int), optional): the spacing between a window's taps.
            Default: ``1``
        return_indices (bool, optional): not supported (``True`` raises
            ``NotImplementedError``; ``F.max_pool2d`` has it). Default: ``False``
        ceil_mode (bool, optional): round the output size up. Default: ``False``

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW), where
          OH = floor((H + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1
          (rounded up with ``ceil_mode``), OW likewise.

    Example::

        >>> pool = nn.MaxPool2d(2)
        >>> pool
        MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
        >>> pool(mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4)))
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]], dtype=float64)
        >>> nn.MaxPool2d(3, stride=2, ceil_mode=True)(mc.tensor(np.zeros((1, 64, 112, 112)))).shape
        (1, 64, 56, 56)
    """

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
    """Mean over kernel_size windows, as ``torch.nn.AvgPool2d``.

    With ``count_include_pad`` (default) padded zeros count in the divisor.  The layer
    around ``F.avg_pool2d``.

    Args:
        kernel_size (int or (int, int)): the window's height and width.
        stride (int or (int, int), optional): the step between windows.
            Default: ``None`` (``kernel_size``)
        padding (int or (int, int), optional): implicit zeros on each side, at most half the
            kernel. Default: ``0``
        ceil_mode (bool, optional): round the output size up. Default: ``False``
        count_include_pad (bool, optional): count the padded zeros in the divisor.
            Default: ``True``
        divisor_override (int, optional): divide every window sum by this instead.
            Default: ``None``

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW), where
          OH = floor((H + 2*padding - kernel_size) / stride) + 1
          (rounded up with ``ceil_mode``), OW likewise.

    Example::

        >>> pool = nn.AvgPool2d(2)
        >>> pool(mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4)))
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]], dtype=float64)
        >>> nn.AvgPool2d(3, stride=1, padding=1)(mc.tensor(np.zeros((2, 8, 5, 5)))).shape
        (2, 8, 5, 5)
    """

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
    """Average pooling to a fixed output size, whatever the input size.

    (N, C, H, W) -> (N, C, *output_size).  (1, 1) is global average pooling.
    As ``torch.nn.AdaptiveAvgPool2d``; the layer around ``F.adaptive_avg_pool2d``.  Bin i of
    an axis covers [floor(i*In/Out), ceil((i+1)*In/Out)).  Global average pooling lets a
    classifier take images of any size (ResNet, GoogLeNet).

    Args:
        output_size (int or (int or None, int or None)): (OH, OW); an int is used for both,
            and None keeps that input size.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW).

    Example::

        >>> pool = nn.AdaptiveAvgPool2d(1)
        >>> pool(mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4)))
        tensor([[[[7.5]]]], dtype=float64)
        >>> nn.AdaptiveAvgPool2d((7, 7))(mc.tensor(np.zeros((2, 512, 13, 17)))).shape
        (2, 512, 7, 7)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return named_errors(self, F.adaptive_avg_pool2d, x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size, whatever the input size.

    (N, C, H, W) -> (N, C, *output_size); bin i of an axis covers
    [floor(i*In/Out), ceil((i+1)*In/Out)).  ``return_indices``: also the argmax of each
    output, a flat index into its H*W input plane.

    As ``torch.nn.AdaptiveMaxPool2d``; the layer around ``F.adaptive_max_pool2d``.

    Args:
        output_size (int or (int or None, int or None)): (OH, OW); an int is used for both,
            and None keeps that input size.
        return_indices (bool, optional): return ``(values, indices)`` instead of the values.
            Default: ``False``

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW); the indices too.

    Example::

        >>> pool = nn.AdaptiveMaxPool2d((2, 2))
        >>> pool
        AdaptiveMaxPool2d(output_size=(2, 2))
        >>> pool(mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4)))
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]], dtype=float64)
        >>> values, indices = nn.AdaptiveMaxPool2d(1, return_indices=True)(mc.tensor(np.arange(16.0).reshape(1, 4, 4)))
        >>> indices
        tensor([[[15]]], dtype=int64)
    """

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return named_errors(self, F.adaptive_max_pool2d, x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"
