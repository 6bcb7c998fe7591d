"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d, adaptive_max_pool2d.

Every pooling op here is described by two *window tables*, one for the rows and
one for the columns of the output (``Windows``, built once per geometry by
``sliding_windows`` or ``adaptive_windows`` in minicnn/geometry.py).  Output pixel
(oh, ow) pools the input rows ``rows.start[oh], rows.start[oh] + rows.step, ... <
rows.stop[oh]`` and likewise for the columns.  Taps in the padding are already left
out of the tables, so max pooling ignores them (padding with -inf) and average
pooling sums only real values, dividing by a separately computed ``divisor``.

The array-level kernels (``max_pool_forward`` & co.) work on raw arrays shaped
(..., H, W).  Each has a readable NumPy reference here (``*_numpy``), a Numba fast
path in minicnn/cpu/pool.py and a CUDA kernel in kernels/pool.cu; ``dispatch.kernel``
picks one.
"""
import numpy as np

from .. import backend, dispatch, geometry
from ..autograd import Function, Tensor
from .arguments import check_dtype
from .elementwise import broadcast_to
from ..geometry import adaptive_windows, pair, sliding_windows, windows_without_taps


# ----- array-level kernels: NumPy references ------------------------------------
@dispatch.register("max_pool_forward", "numpy")
def max_pool_forward_numpy(x, rows, cols):
    """x: (B, H, W) -> values, argmax: (B, OH, OW); argmax is the flat index h*W + w.

    Loops over the kernel offsets (i, j): at each one, gathers tap i of every row
    window and tap j of every column window from all windows at once and keeps
    the running maximum.  Taps outside the input are never taken: padding is -inf.
    """
    xp = backend.get_array_module(x)
    B, H, W = x.shape
    r_start, r_stop, c_start, c_stop = (xp.asarray(a) for a in
                                        (rows.start, rows.stop, cols.start, cols.stop))
    best = xp.full((B, len(r_start), len(c_start)), -np.inf, dtype=x.dtype)
    # if nothing beats -inf, PyTorch reports the window's first real tap
    argmax = xp.broadcast_to(r_start[:, None] * W + c_start[None, :], best.shape).copy()
    for i in range(rows.max_taps):
        h = r_start + i * rows.step                              # (OH,) tap i of each row window
        for j in range(cols.max_taps):
            w = c_start + j * cols.step                          # (OW,)
            inside = (h < r_stop)[:, None] & (w < c_stop)[None, :]      # (OH, OW)
            tap = x[:, h.clip(0, H - 1)[:, None], w.clip(0, W - 1)[None, :]]   # (B, OH, OW)
            wins = inside & ((tap > best) | xp.isnan(tap))      # NaN wins, as in PyTorch
            best = xp.where(wins, tap, best)
            argmax = xp.where(wins, h[:, None] * W + w[None, :], argmax)
    return best, argmax


@dispatch.register("max_pool_backward", "numpy")
def max_pool_backward_numpy(g, argmax, H, W, rows, cols):
    """g, argmax: (B, OH, OW) -> grad (B, H, W): each output gradient is added at its argmax.

    Overlapping windows can share an argmax, so this is a scatter-*add*: bincount
    with weights sums everything sent to the same index (and is fast, unlike np.add.at).
    The windows ``rows``, ``cols`` are not needed here (the CUDA kernel's gather needs them).
    """
    xp = backend.get_array_module(g)
    B = g.shape[0]
    flat = argmax + (xp.arange(B) * (H * W))[:, None, None]    # index into all B planes
    grad = xp.bincount(flat.ravel(), weights=g.ravel(), minlength=B * H * W)
    return grad.astype(g.dtype, copy=False).reshape(B, H, W)


def _window_matrix(windows, size, xp, dtype):
    """(out, size) matrix with M[o, i] = 1 where input i lies in window o (dilation 1)."""
    i = xp.arange(size)
    start, stop = xp.asarray(windows.start), xp.asarray(windows.stop)
    return ((start[:, None] <= i) & (i < stop[:, None])).astype(dtype)


@dispatch.register("avg_pool_forward", "numpy")
def avg_pool_forward_numpy(x, rows, cols, divisor):
    """x: (B, H, W) -> (B, OH, OW): each window's sum / divisor.

    Loops over the kernel offsets (i, j), as max pooling does: at each one, adds tap i of
    every row window and tap j of every column window, from all windows at once.  Taps
    outside the input add nothing.  (A product with 0/1 window matrices, R @ x @ C.T,
    would be shorter, but 0 * NaN and 0 * inf are NaN: one NaN or infinity in a plane
    would reach every window of it.)
    """
    xp = backend.get_array_module(x)
    B, H, W = x.shape
    r_start, r_stop, c_start, c_stop = (xp.asarray(a) for a in
                                        (rows.start, rows.stop, cols.start, cols.stop))
    total = xp.zeros((B, len(r_start), len(c_start)), dtype=x.dtype)
    for i in range(rows.max_taps):
        h = r_start + i * rows.step                              # (OH,) tap i of each row window
        for j in range(cols.max_taps):
            w = c_start + j * cols.step                          # (OW,)
            inside = (h < r_stop)[:, None] & (w < c_stop)[None, :]      # (OH, OW)
            tap = x[:, h.clip(0, H - 1)[:, None], w.clip(0, W - 1)[None, :]]   # (B, OH, OW)
            total += xp.where(inside, tap, x.dtype.type(0))
    return total / xp.asarray(divisor)


@dispatch.register("avg_pool_backward", "numpy")
def avg_pool_backward_numpy(g, rows, cols, divisor, H, W):
    """g: (B, OH, OW) -> grad (B, H, W): the transpose of the forward, R.T @ (g / divisor) @ C."""
    xp = backend.get_array_module(g)
    R = _window_matrix(rows, H, xp, g.dtype)
    C = _window_matrix(cols, W, xp, g.dtype)
    return R.T @ (g / xp.asarray(divisor)) @ C


# ----- array-level kernels on (..., H, W) arrays ------------------------------
def _planes(a):
    """(..., H, W) -> contiguous (B, H, W): the kernels see a stack of 2-D planes."""
    xp = backend.get_array_module(a)
    return xp.ascontiguousarray(a).reshape((-1,) + a.shape[-2:])


def max_pool_forward(x, rows, cols):
    """x: (..., H, W) -> values, argmax: (..., OH, OW); argmax indexes each H*W plane."""
    out, argmax = dispatch.kernel("max_pool_forward", x)(_planes(x), rows, cols)
    shape = x.shape[:-2] + out.shape[1:]
    return out.reshape(shape), argmax.reshape(shape)


def max_pool_backward(g, argmax, x_shape, rows, cols):
    """g, argmax: (..., OH, OW) -> gradient of shape x_shape (..., H, W)."""
    H, W = x_shape[-2:]
    grad = dispatch.kernel("max_pool_backward", g)(_planes(g), _planes(argmax), H, W, rows, cols)
    return grad.reshape(x_shape)


def avg_pool_forward(x, rows, cols, divisor):
    """x: (..., H, W) -> (..., OH, OW): window sums / divisor (OH, OW)."""
    out = dispatch.kernel("avg_pool_forward", x)(_planes(x), rows, cols, divisor)
    return out.reshape(x.shape[:-2] + out.shape[1:])


def avg_pool_backward(g, rows, cols, divisor, x_shape):
    """g: (..., OH, OW) -> gradient of shape x_shape (..., H, W)."""
    H, W = x_shape[-2:]
    grad = dispatch.kernel("avg_pool_backward", g)(_planes(g), rows, cols, divisor, H, W)
    return grad.reshape(x_shape)


# ----- autograd Functions ----------------------------------------------------
class MaxPool(Function):
    """Max over each window (settings ``rows``, ``cols``); returns the values and, as an
    extra without gradient, the argmax (flat index h*W + w in each input plane).
    Backward sends each output gradient to its argmax."""
    settings = ("rows", "cols")

    def forward(self, x):                    # x: (..., H, W) -> out, argmax: (..., OH, OW)
        out, argmax = max_pool_forward(x, self.rows, self.cols)
        self.save_for_backward(argmax=argmax)
        return out, argmax

    def windows(self):
        return self.rows, self.cols

    def backward(self, g):
        return _max_pool_grad(g, self.argmax, self.rows, self.cols, self.input_shapes[0])

    def backward_graph(self, g):
        return MaxPoolGrad.apply(g, argmax=self.argmax, rows=self.rows, cols=self.cols,
                                 x_shape=self.input_shapes[0])


def _max_pool_grad(g, argmax, rows, cols, x_shape):
    """g (..., OH, OW) sent to each window's argmax: the gradient (..., H, W)."""
    no_taps = windows_without_taps(rows, cols)
    if no_taps is not None:              # such windows have no input to send gradient to
        xp = backend.get_array_module(g)
        no_taps = xp.asarray(no_taps)
        g, argmax = xp.where(no_taps, 0, g), xp.where(no_taps, 0, argmax)
    return max_pool_backward(g, argmax, x_shape, rows, cols)


class MaxPoolGrad(Function):
    """MaxPool's backward as an op: g (..., OH, OW) -> (..., H, W), each value added at its
    window's argmax.  It is linear in g; its own backward reads each window's argmax back
    (a gather), where the gradient came from."""
    settings = ("argmax", "rows", "cols", "x_shape")

    def forward(self, g):
        return _max_pool_grad(g, self.argmax, self.rows, self.cols, self.x_shape)

    def backward_graph(self, v):             # v (..., H, W) -> v at each argmax: (..., OH, OW)
        xp = backend.get_array_module(self.argmax)
        H, W = self.x_shape[-2:]
        no_taps = windows_without_taps(self.rows, self.cols)
        argmax = self.argmax if no_taps is None else xp.where(xp.asarray(no_taps), 0, self.argmax)
        B, OH, OW = int(np.prod(self.x_shape[:-2])), *argmax.shape[-2:]   # sizes: B may be 0
        planes = v.reshape(B, H * W)
        picked = planes[xp.arange(B)[:, None], argmax.reshape(B, OH * OW)].reshape(argmax.shape)
        return picked if no_taps is None else picked * Tensor(xp.asarray(~no_taps, dtype=v.dtype))


class AvgPool(Function):
    """Window averages for avg_pool2d and adaptive_avg_pool2d (settings rows, cols, divisor)."""
    settings = ("rows", "cols", "divisor")

    def forward(self, x):                    # x: (..., H, W) -> (..., OH, OW)
        return avg_pool_forward(x, self.rows, self.cols, self.divisor)

    def windows(self):
        return self.rows, self.cols

    def backward(self, g):
        return avg_pool_backward(g, self.rows, self.cols, self.divisor, self.input_shapes[0])

    def backward_graph(self, g):
        return AvgPoolGrad.apply(g, rows=self.rows, cols=self.cols, divisor=self.divisor,
                                 x_shape=self.input_shapes[0])


class AvgPoolGrad(Function):
    """AvgPool's backward as an op, g (..., OH, OW) -> (..., H, W): each window's gradient
    spread over it.  Linear in g; its transpose, its own backward, is the average pooling."""
    settings = ("rows", "cols", "divisor", "x_shape")

    def forward(self, g):
        return avg_pool_backward(g, self.rows, self.cols, self.divisor, self.x_shape)

    def backward_graph(self, v):
        return AvgPool.apply(v, rows=self.rows, cols=self.cols, divisor=self.divisor)


class GlobalAvgPool(Function):
    """adaptive_avg_pool2d(x, 1): the mean of each plane.  Written as a product with a
    vector of 1/(H*W): NumPy sums many short rows slowly, a matrix-vector product is fast."""

    def forward(self, x):                    # x: (..., H, W) -> (..., 1, 1)
        xp = backend.get_array_module(x)
        H, W = x.shape[-2:]
        return (_planes(x).reshape(-1, H * W) @ xp.full(H * W, 1 / (H * W), x.dtype)).reshape(
            x.shape[:-2] + (1, 1))

    def windows(self):                       # one window: the whole plane
        H, W = self.input_shapes[0][-2:]
        return adaptive_windows(H, 1), adaptive_windows(W, 1)

    def backward(self, g):                   # every input shares its plane's gradient equally
        xp = backend.get_array_module(g)
        x_shape = self.input_shapes[0]
        H, W = x_shape[-2:]
        return xp.broadcast_to(g / (H * W), x_shape).copy()

    def backward_graph(self, g):
        x_shape = self.input_shapes[0]
        return broadcast_to(g / (x_shape[-2] * x_shape[-1]), x_shape)


# ----- argument checking -----------------------------------------------------
def _check_input(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"minicnn: {op}: expected a minicnn Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4):
        raise ValueError(f"minicnn: {op}: expected a 4-D input (N, C, H, W) or a 3-D one "
                         f"(C, H, W), got input of shape {input.shape}")
    check_dtype(op, input, what="a floating-point input")
    if 0 in input.shape[-3:]:        # as in PyTorch, only a batch may be empty
        raise ValueError(f"minicnn: {op}: expected an input with non-zero channels, height and "
                         f"width (only the batch N may be 0), got input of shape {input.shape}")


def _sliding_windows(op, input, kernel_size, stride, padding, dilation, ceil_mode):
    """Check a max_pool2d / avg_pool2d geometry and return its (rows, cols) window tables."""
    _check_input(op, input)
    k = pair(kernel_size, "kernel_size", op, minimum=1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else pair(stride, "stride", op, minimum=1)
    p = pair(padding, "padding", op, minimum=0)
    d = pair(dilation, "dilation", op, minimum=1)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"minicnn: {op}: padding {p} must be at most half of kernel_size {k}")
    size = input.shape[-2:]
    out = tuple(geometry.output_size(size[a], k[a], s[a], p[a], d[a], ceil_mode) for a in (0, 1))
    if min(out) < 1:
        raise ValueError(f"minicnn: {op}: kernel_size {k} (dilation {d}) does not fit in the input "
                         f"of shape {input.shape} padded by {p}: the output would be {out}")
    return tuple(sliding_windows(size[a], k[a], s[a], p[a], d[a], bool(ceil_mode)) for a in (0, 1))


def _adaptive_output_size(op, input, output_size):
    """int or pair (None keeps that input size) -> (OH, OW)."""
    _check_input(op, input)
    sizes = (output_size,) * 2 if isinstance(output_size, (int, np.integer)) else output_size
    if (not isinstance(sizes, (tuple, list))
            or not all(v is None or isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in sizes)):
        raise TypeError(f"minicnn: {op}: output_size must be an int or a pair of ints "
                        f"(None keeps the input size), got {output_size!r}")
    if len(sizes) != 2 or any(v is not None and v < 0 for v in sizes):
        raise ValueError(f"minicnn: {op}: output_size must be a non-negative int or a pair of them "
                         f"(None keeps the input size), got {output_size!r}")
    return tuple(int(input.shape[a - 2]) if v is None else int(v) for a, v in enumerate(sizes))


# ----- the functional API ---------------------------------------------------
def _max_pool(input, rows, cols, return_indices):
    values, indices = MaxPool.apply(input, rows=rows, cols=cols)
    return (values, indices) if return_indices else values


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each window, as ``torch.nn.functional.max_pool2d``.

    Padding counts as -inf, so a window's max is always one of its real inputs.  With
    ``return_indices`` also the int64 argmax of each output as a flat index into its H*W
    input plane.  Backward sends each output's gradient to its argmax (summed where
    windows overlap).

    The output size per axis is

        OH = floor((H + 2*padding - dilation*(kernel_size-1) - 1) / stride) + 1

    (rounded up with ``ceil_mode``, unless the last, partial window would start in the
    right/bottom padding, as in PyTorch).

    Args:
        input (Tensor): floating-point feature maps.
        kernel_size (int or (int, int)): the window's height and width.
        stride (int or (int, int), optional): the step between windows. Default: ``None``
            (``kernel_size``: windows side by side)
        padding (int or (int, int), optional): implicit -inf on each side, at most half the
            kernel. Default: ``0``
        dilation (int or (int, int), optional): the spacing between a window's taps.
            Default: ``1``
        ceil_mode (bool, optional): round the output size up instead of down.
            Default: ``False``
        return_indices (bool, optional): also return the argmax indices. Default: ``False``

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW); the indices too.

    Example::

        >>> x = mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.max_pool2d(x, 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]], dtype=float64)
        >>> values, indices = F.max_pool2d(x, 2, return_indices=True)
        >>> indices
        tensor([[[[ 5,  7],
                  [13, 15]]]], dtype=int64)
        >>> F.max_pool2d(mc.tensor(np.ones((2, 3, 5, 5))), 2, ceil_mode=True).shape
        (2, 3, 3, 3)
    """
    rows, cols = _sliding_windows("max_pool2d", input, kernel_size, stride, padding, dilation,
                                  ceil_mode)
    return _max_pool(input, rows, cols, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size, whatever the input size.

    As ``torch.nn.functional.adaptive_max_pool2d``.  Output row i pools input rows
    [floor(i*H/OH), ceil((i+1)*H/OH)), and likewise for the columns: bins that cover the
    input and may overlap by one row or column when the sizes do not divide.  Backward and
    the indices are as for ``max_pool2d``.

    Args:
        input (Tensor): floating-point feature maps.
        output_size (int or (int or None, int or None)): (OH, OW); an int is used for both,
            and None keeps that input size.
        return_indices (bool, optional): also return the argmax of each output, a flat index
            into its H*W input plane. Default: ``False``

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW); the indices too.

    Example::

        >>> x = mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.adaptive_max_pool2d(x, 1)
        tensor([[[[15.]]]], dtype=float64)
        >>> F.adaptive_max_pool2d(x, (2, None)).shape
        (1, 1, 2, 4)
    """
    OH, OW = _adaptive_output_size("adaptive_max_pool2d", input, output_size)
    H, W = input.shape[-2:]
    return _max_pool(input, adaptive_windows(H, OH), adaptive_windows(W, OW), return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean of each window, as ``torch.nn.functional.avg_pool2d``.

    The divisor is the window size counting padding (not the ceil-mode overhang beyond it),
    or only real inputs when count_include_pad=False, or ``divisor_override``.  Padding adds
    zeros.

    The output size per axis is

        OH = floor((H + 2*padding - kernel_size) / stride) + 1

    (rounded up with ``ceil_mode``, unless the last, partial window would start in the
    right/bottom padding, as in PyTorch).

    Args:
        input (Tensor): floating-point feature maps.
        kernel_size (int or (int, int)): the window's height and width.
        stride (int or (int, int), optional): the step between windows. Default: ``None``
            (``kernel_size``: windows side by side)
        padding (int or (int, int), optional): implicit zeros on each side, at most half the
            kernel. Default: ``0``
        ceil_mode (bool, optional): round the output size up instead of down.
            Default: ``False``
        count_include_pad (bool, optional): count the padded zeros in the divisor.
            Default: ``True``
        divisor_override (int, optional): divide every window sum by this instead.
            Default: ``None``

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW).

    Example::

        >>> x = mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.avg_pool2d(x, 2)
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]], dtype=float64)
        >>> F.avg_pool2d(x, 3, stride=1, padding=1)[0, 0, 0]         # corners: 4 of 9 real
        tensor([1.11111111, 2.        , 2.66666667, 2.        ], dtype=float64)
        >>> F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)[0, 0, 0]
        tensor([2.5, 3. , 4. , 4.5], dtype=float64)
    """
    rows, cols = _sliding_windows("avg_pool2d", input, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None:
        if not isinstance(divisor_override, (int, np.integer)) or isinstance(divisor_override, bool):
            raise TypeError(f"minicnn: avg_pool2d: divisor_override must be an int, "
                            f"got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError("minicnn: avg_pool2d: divisor_override must be a non-zero int, got 0")
        divisor = np.full((len(rows.start), len(cols.start)), divisor_override)
    elif count_include_pad:
        divisor = np.outer(rows.count, cols.count)
    else:
        divisor = np.outer(rows.stop - rows.start, cols.stop - cols.start)
    return AvgPool.apply(input, rows=rows, cols=cols, divisor=divisor.astype(input.dtype))


def adaptive_avg_pool2d(input, output_size):
    """Mean over bin i = [floor(i*In/Out), ceil((i+1)*In/Out)) of each axis.

    Average pooling to a fixed output size, whatever the input size, as
    ``torch.nn.functional.adaptive_avg_pool2d``: bins that cover the input and may overlap
    by one row or column when the sizes do not divide.  An output size of 1 is global
    average pooling (the mean of each plane), which the classifiers of ResNet and GoogLeNet
    end with.

    Args:
        input (Tensor): floating-point feature maps.
        output_size (int or (int or None, int or None)): (OH, OW); an int is used for both,
            and None keeps that input size.

    Shape:
        - Input: (N, C, H, W) or (C, H, W).
        - Output: (N, C, OH, OW) or (C, OH, OW).

    Example::

        >>> x = mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.adaptive_avg_pool2d(x, 1)
        tensor([[[[7.5]]]], dtype=float64)
        >>> F.adaptive_avg_pool2d(x, 2)
        tensor([[[[ 2.5,  4.5],
                  [10.5, 12.5]]]], dtype=float64)
        >>> F.adaptive_avg_pool2d(mc.tensor(np.ones((2, 3, 7, 5))), (3, None)).shape
        (2, 3, 3, 5)
    """
    OH, OW = _adaptive_output_size("adaptive_avg_pool2d", input, output_size)
    if (OH, OW) == (1, 1):                   # global average pooling: just a mean
        return GlobalAvgPool.apply(input)
    H, W = input.shape[-2:]
    rows, cols = adaptive_windows(H, OH), adaptive_windows(W, OW)
    divisor = np.outer(rows.count, cols.count).astype(input.dtype)
    return AvgPool.apply(input, rows=rows, cols=cols, divisor=divisor)
