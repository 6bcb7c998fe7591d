"""Where sliding windows go: (height, width) pairs, output sizes and pooling window tables.

The arithmetic every convolution and pooling layer shares, in one place at the bottom of
the tree.  It needs NumPy only and imports nothing from minicnn, so every layer can use it:
the ops (minicnn/functional), their Numba and CUDA kernels (minicnn/cpu, minicnn/cuda),
the layers (minicnn/nn), ``summary`` and the data transforms.
"""
import functools
import numbers
from typing import NamedTuple

import numpy as np


def pair(value, name="value", op="minicnn", minimum=None):
    """An int or a sequence of 1 or 2 ints -> (int, int), as PyTorch reads kernel_size & co.

    ``3 -> (3, 3)``, ``(3,) -> (3, 3)``, ``(3, 1) -> (3, 1)``.  A wrong type (a float, a
    bool, a string) is a TypeError, a wrong length or a value below ``minimum`` a
    ValueError; both messages name the op and the argument.
    """
    values = (value,) if isinstance(value, numbers.Integral) else value
    if (not isinstance(values, (tuple, list))
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values)):
        raise TypeError(f"minicnn: {op}: {name} must be an int or a pair of ints, got {value!r}")
    if len(values) not in (1, 2):
        raise ValueError(f"minicnn: {op}: {name} must be an int or a pair of ints, got {value!r}")
    result = (int(values[0]), int(values[-1]))
    if minimum is not None and min(result) < minimum:
        raise ValueError(f"minicnn: {op}: {name} must be at least {minimum}, got {value!r}")
    return result


def output_size(size, kernel, stride=1, padding=0, dilation=1, ceil_mode=False):
    """How many windows fit along one axis of length ``size`` (may be < 1: callers report it).

        floor((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1

    dilation*(kernel-1) + 1 is the extent of a dilated window; the output counts the window
    positions 0, stride, 2*stride, ... that still fit inside the padded input.  With
    ``ceil_mode`` (pooling only) a last, partial window counts too, unless it would start
    in the right padding.
    """
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def output_hw(input_shape, kernel_size, stride, padding, dilation):
    """(OH, OW) of a convolution over an input of shape (..., H, W); the settings are pairs."""
    H, W = input_shape[-2:]
    return (output_size(H, kernel_size[0], stride[0], padding[0], dilation[0]),
            output_size(W, kernel_size[1], stride[1], padding[1], dilation[1]))


# ----- pooling window tables ---------------------------------------------------------
class Windows(NamedTuple):
    """Where the pooling windows of one axis lie; one entry per output row (or column).

    Output row oh pools the input rows start[oh], start[oh] + step, ... < stop[oh].  Taps
    in the padding are already left out, so max pooling ignores them (padding is -inf) and
    average pooling sums only real values, dividing by a separate divisor.
    """
    start: np.ndarray   # (out,) int64: first tap inside the input
    stop: np.ndarray    # (out,) int64: one past the last tap inside the input
    step: int           # distance between taps (the dilation)
    count: np.ndarray   # (out,) int64: window length counting padding (avg_pool2d's default divisor)
    stride: int = 0     # distance between neighbouring windows; 0: uneven (adaptive bins)

    @property
    def max_taps(self):
        """The most taps any window has inside the input."""
        taps = -((self.start - self.stop) // self.step)       # ceil((stop - start) / step)
        return int(taps.max(initial=0))


@functools.lru_cache(maxsize=256)
def output_tiles(output_hw):
    """(OH, OW) -> (TH, TW): the 2x2 tiles of Winograd F(2x2, 3x3) covering that output
    (the last row and column of tiles may stick out by one)."""
    return (output_hw[0] + 1) // 2, (output_hw[1] + 1) // 2


def winograd_tiles(input_hw, padding):
    """Winograd F(2x2, 3x3) of an input (..., H, W) with ``padding`` (a pair): (OH, OW) of
    the 3x3 stride-1 output, and its ``output_tiles`` (TH, TW)."""
    OH, OW = output_hw(input_hw, (3, 3), (1, 1), padding, (1, 1))
    return (OH, OW), output_tiles((OH, OW))


def sliding_windows(size, kernel, stride, padding, dilation=1, ceil_mode=False):
    """The windows of max_pool2d / avg_pool2d along one axis of length ``size``."""
    out = output_size(size, kernel, stride, padding, dilation, ceil_mode)
    first = np.arange(out, dtype=np.int64) * stride - padding    # first tap, maybe in the padding
    # skip the taps in the left padding: PyTorch steps forward by whole dilations
    start = first + -(first.clip(max=0) // dilation) * dilation
    stop = np.minimum(first + dilation * (kernel - 1) + 1, size)
    # count_include_pad counts the padding but not the ceil-mode overhang beyond it
    count = np.minimum(first + kernel, size + padding) - first
    return Windows(start, stop, dilation, count, stride)


def window_tables(input_hw, kernel, stride, padding, dilation=(1, 1), ceil_mode=False):
    """(rows, cols): the ``sliding_windows`` of both axes of an (H, W) input (settings are pairs)."""
    return tuple(sliding_windows(input_hw[a], kernel[a], stride[a], padding[a], dilation[a],
                                 ceil_mode) for a in (0, 1))


def span_and_stride(windows):
    """(span, stride) of one axis's window table: how many input pixels a window spans,
    padding included (``count`` counts it: step * (most taps - 1) + 1), and how far apart
    neighbouring windows lie.  Adaptive bins are uneven: their largest distance; one bin
    alone: its span."""
    span = windows.step * (int(np.max(windows.count)) - 1) + 1
    if windows.stride:
        return span, int(windows.stride)
    return span, int(np.diff(windows.start).max()) if len(windows.start) > 1 else span


def convolution_multiply_adds(output_shape, weight_shape):
    """Multiply-adds of a convolution computed directly, whichever algorithm ran: each output
    value sums C/groups * kh * kw products."""
    return int(np.prod(output_shape)) * int(np.prod(weight_shape[1:]))


class ConvolutionShapes:
    """Mixin of the convolution Functions (Conv2d, DepthwiseConv2d; WinogradConv2d takes
    ``multiply_adds``): what ``summary`` and ``viz`` ask them, from the shapes forward saw
    and the stride, padding and dilation settings."""

    def windows(self):
        x_shape, w_shape = self.input_shapes[:2]
        return window_tables(x_shape[2:], w_shape[2:], self.stride, self.padding, self.dilation)

    def multiply_adds(self):
        return convolution_multiply_adds(self.output_shape, self.input_shapes[1])


@functools.lru_cache(maxsize=256)
def adaptive_windows(size, out):
    """Bin i of ``out`` covers [floor(i*size/out), ceil((i+1)*size/out)): bins may overlap."""
    i = np.arange(out, dtype=np.int64)
    start = i * size // out
    stop = -(-(i + 1) * size // out)
    return Windows(start, stop, 1, stop - start)


def windows_without_taps(rows, cols):
    """(OH, OW) mask of windows with no tap inside the input, or None if there are none.

    Only a dilated max pool can have such windows (its taps may straddle a small input).
    """
    mask = (rows.start >= rows.stop)[:, None] | (cols.start >= cols.stop)[None, :]
    return mask if mask.any() else None
