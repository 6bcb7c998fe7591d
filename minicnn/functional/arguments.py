"""Argument helpers every op file uses: dtypes (PyTorch's promotion rules and the dtypes an op
refuses), dims, and the window settings of convolutions.

They check and normalise what a caller passed, before an op runs: each raises the error
PyTorch raises for the same mistake (TypeError, ValueError, IndexError), with a message
naming the op, what it expected and what arrived.
"""
import functools

import numpy as np

from ..autograd import DEFAULT_FLOAT, InvalidDtypeError, InvalidValueError, Tensor
from ..geometry import output_hw, pair


# ----- dtypes ------------------------------------------------------------------
def _promote_types(a, b):
    """The dtype two dtypes both fit in: NumPy's answer, except that an integer meeting a
    float gives that float (NumPy widens int64 with float32 to float64, PyTorch does not)."""
    if (a.kind == "f") != (b.kind == "f"):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def result_type(*operands):
    """The dtype of an op on ``operands`` (Tensors and Python numbers), as PyTorch decides.

    Tensors with dims outrank 0-d tensors, which outrank Python numbers; a lower rank
    counts only when it brings a higher category (bool < integer < float).  So
    float32 * 2.5 stays float32, int64 * 2.5 is float32 (a Python float stands for
    PyTorch's default dtype), uint8 + 300 stays uint8, int64 + a 0-d float64 tensor is
    float64, and int32 + int64 (both with dims) is int64.
    """
    def promoted(dtypes):
        return functools.reduce(_promote_types, dtypes) if dtypes else None

    def combine(higher, lower):         # PyTorch's combine_categories
        if lower is None or higher is not None and higher.kind == "f":
            return higher
        if higher is None or higher.kind == "b" or lower.kind == "f":
            return lower if higher is None else _promote_types(higher, lower)
        return higher

    tensors = [v for v in operands if isinstance(v, Tensor)]
    numbers = [np.dtype(DEFAULT_FLOAT if isinstance(v, float) else bool if isinstance(v, bool)
                        else np.int64) for v in operands if not isinstance(v, Tensor)]
    with_dims = promoted([t.dtype for t in tensors if t.ndim])
    zero_dim = promoted([t.dtype for t in tensors if not t.ndim])
    return combine(with_dims, combine(zero_dim, promoted(numbers)))


def check_dtype(op, tensor, kinds="f", what="a floating-point tensor"):
    """Refuse a dtype the op does not take, as PyTorch does (bool relu, int softmax, ...).
    ``kinds``: the NumPy dtype kinds allowed ("b" bool, "i"/"u" integer, "f" float)."""
    if tensor.dtype.kind not in kinds:
        raise InvalidDtypeError(f"minicnn: {op}: expected {what}, got dtype {tensor.dtype}")


def wrap_dim(dim, ndim, op):
    """A dim in PyTorch's range -ndim <= dim < ndim (0-d tensors take -1 and 0) -> 0..ndim-1.

    Out of range is an IndexError with PyTorch's words: wrapping it (dim % ndim) would
    silently pick another axis, e.g. softmax over the batch.
    """
    if not isinstance(dim, (int, np.integer)):
        raise TypeError(f"minicnn: {op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"minicnn: {op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def normalize_dims(dim, ndim, op):
    """None -> every axis; an int or a sequence of them -> a sorted tuple of axes.
    A 0-d tensor has no axis: its dim 0 (or -1) becomes ()."""
    if dim is None:
        return tuple(range(ndim))
    dims = [wrap_dim(d, ndim, op) for d in ((dim,) if isinstance(dim, (int, np.integer)) else dim)]
    repeated = [d for d in dims if dims.count(d) > 1]
    if repeated:
        raise InvalidValueError(f"minicnn: {op}: dim {repeated[0]} appears multiple times in {dim}")
    return tuple(sorted(dims)) if ndim else ()


# ----- window settings (convolutions) ---------------------------------------------
def window_args(kernel_size, stride, padding, dilation, op):
    """Normalise the four window settings to pairs and check their ranges."""
    return (pair(kernel_size, "kernel_size", op, minimum=1), pair(stride, "stride", op, minimum=1),
            pair(padding, "padding", op, minimum=0), pair(dilation, "dilation", op, minimum=1))


def check_fits(input_shape, k, s, p, d, op):
    """(OH, OW) of a convolution window (pairs k, s, p, d) over ``input_shape``; an error
    naming the op when not even one window fits in the padded input."""
    OH, OW = output_hw(input_shape, k, s, p, d)
    if OH < 1 or OW < 1:
        H, W = input_shape[-2:]
        extent = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
        raise ValueError(f"minicnn: {op}: kernel (dilated extent {extent}) is larger than the padded "
                         f"input ({H + 2 * p[0]}, {W + 2 * p[1]}) (input {tuple(input_shape)}, "
                         f"padding {p}); the output would be {OH}x{OW}")
    return OH, OW


def same_padding(kernel, dilation):
    """padding='same' (stride 1) -> (padding, crop), pairs.

    Output size = input size needs d*(k-1) zeros per axis in all.  When that is odd,
    PyTorch puts the extra zero on the right (bottom).  We pad both sides with the larger
    half instead, which yields one output row (column) too many at the top (left), and
    drop it: ``crop`` is 1 on such an axis, else 0.  No kernel needs uneven padding.
    """
    totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
    return tuple((t + 1) // 2 for t in totals), tuple(t % 2 for t in totals)


def check_padding_string(padding, stride, op):
    """'valid' or 'same' (which PyTorch allows with stride 1 only); anything else is an error."""
    if padding not in ("valid", "same"):
        raise ValueError(f"minicnn: {op}: padding must be 'valid', 'same', an int or a pair, "
                         f"got {padding!r}")
    if padding == "same" and pair(stride, "stride", op) != (1, 1):
        raise ValueError(f"minicnn: {op}: padding='same' is not supported for strided "
                         f"convolutions (stride={stride!r}); PyTorch refuses it too")
