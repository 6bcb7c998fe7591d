"""Convolution as a matrix product: ``im2col``, ``col2im`` and ``conv2d``.

A 2-D convolution slides a (C, kh, kw) window over the input and takes a dot
product with each filter.  ``im2col`` copies every window into one column of a
matrix; then a single matrix product (GEMM) with the filters, flattened to rows,
computes every output at once, and BLAS does the heavy lifting:

    weight (C_out, C*kh*kw)  @  col (C*kh*kw, N*OH*OW)  =  y (C_out, N*OH*OW)

Backward is two more GEMMs: ``g @ col.T`` for the weight gradient and
``weight.T @ g`` for the gradient of the columns, which ``col2im`` folds back onto
the input, adding up where windows overlap.

The kernels lay the images' columns side by side, (C*kh*kw, N*OH*OW), so that each of
the three products is ONE GEMM for the whole batch (or chunk of it): on small maps
(7x7, 49 columns per image) a product per image keeps BLAS far below its speed.  The
public ``im2col`` / ``col2im`` speak PyTorch's ``unfold`` / ``fold`` layout,
(N, C*kh*kw, OH*OW), a transposed view of the same numbers.

Kernels: ``im2col_numpy`` / ``col2im_numpy`` are the readable references (written
against ``xp``, so they also run on CuPy).  ``dispatch.kernel`` picks the implementation
for an array: minicnn/cpu/conv.py holds the Numba fast paths, minicnn/cuda/launch.py the
CUDA kernels.  The output-size arithmetic lives in minicnn/geometry.py.
"""
import numpy as np

from .. import backend, dispatch
from ..autograd import Function
from ..geometry import output_hw, pair, winograd_tiles
from . import winograd
from .elementwise import check_dtype


# ----- argument helpers ------------------------------------------------------
def _window_args(kernel_size, stride, padding, dilation, op):
    """Normalise the four window settings to pairs and check their ranges."""
    return (pair(kernel_size, "kernel_size", op, minimum=1), pair(stride, "stride", op, minimum=1),
            pair(padding, "padding", op, minimum=0), pair(dilation, "dilation", op, minimum=1))


def _check_fits(input_shape, k, s, p, d, op):
    OH, OW = output_hw(input_shape, k, s, p, d)
    if OH < 1 or OW < 1:
        H, W = input_shape[-2:]
        extent = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
        raise ValueError(f"minicnn: {op}: kernel (dilated extent {extent}) is larger than the padded "
                         f"input ({H + 2 * p[0]}, {W + 2 * p[1]}) (input {tuple(input_shape)}, "
                         f"padding {p}); the output would be {OH}x{OW}")
    return OH, OW


# ----- the NumPy references (also run on CuPy) --------------------------------
@dispatch.register("im2col", "numpy")
def im2col_numpy(x, kernel_size, stride, padding, dilation):
    """x (N, C, H, W) -> col (C*kh*kw, N*OH*OW), the images side by side: a strided view of
    the zero-padded input and one reshape (settings are pairs)."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    OH, OW = output_hw(x.shape, kernel_size, stride, padding, dilation)
    if ph or pw:
        padded = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
        padded[:, :, ph:ph + H, pw:pw + W] = x
    else:
        padded = x       # any strides (transposed, sliced) are fine: the view below uses them
    sN, sC, sH, sW = padded.strides
    # windows[c, i, j, n, oh, ow] = padded[n, c, oh*sh + i*dh, ow*sw + j*dw]: no copy yet,
    # just a 6-D way of reading the same memory (one step of i moves dh rows, of oh sh rows).
    windows = xp.lib.stride_tricks.as_strided(
        padded, shape=(C, kh, kw, N, OH, OW),
        strides=(sC, dh * sH, dw * sW, sN, sh * sH, sw * sW))
    # The one copy: rows are ordered (c, i, j), columns (n, oh, ow).
    return windows.reshape(C * kh * kw, N * OH * OW)


@dispatch.register("col2im", "numpy")
def col2im_numpy(col, input_shape, kernel_size, stride, padding, dilation):
    """col (C*kh*kw, N*OH*OW), images side by side -> (N, C, H, W): kh*kw strided slice-adds
    into a zero-padded buffer (settings are pairs)."""
    xp = backend.get_array_module(col)
    N, C, H, W = input_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    OH, OW = output_hw(input_shape, kernel_size, stride, padding, dilation)
    cols = col.reshape(C, kh, kw, N, OH, OW)
    padded = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=col.dtype)
    for i in range(kh):
        for j in range(kw):
            # Kernel tap (i, j) of every window: rows i*dh, i*dh + sh, ... and likewise
            # columns.  Within one tap no two windows hit the same pixel, so a slice-add
            # is safe; overlaps between taps add up across iterations.
            padded[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh,
                         j * dw:j * dw + sw * (OW - 1) + 1:sw] += cols[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, ph:ph + H, pw:pw + W]   # gradient that fell on the padding is dropped


# ----- public array-level functions -------------------------------------------
def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Unfold every convolution window of ``x`` into a column: (N, C, H, W) -> (N, C*kh*kw, OH*OW).

    Column ``oh*OW + ow`` holds the window whose top-left corner sits at
    ``(oh*stride - padding, ow*stride - padding)``; row ``c*kh*kw + i*kw + j`` holds
    kernel tap (i, j) of channel c.  Example: one channel, 3x3 input, 2x2 kernel, stride 1::

        x = a b c        col = [a b d e]   <- tap (0,0) of windows 0..3
            d e f              [b c e f]   <- tap (0,1)
            g h i              [d e g h]   <- tap (1,0)
                               [e f h i]   <- tap (1,1)
                                ^ window 0 = [a b / d e], one column per output pixel

    With this layout a convolution is ``weight.reshape(C_out, -1) @ col``, giving
    (N, C_out, OH*OW) -- already the (N, C_out, OH, OW) memory order.  Same layout as
    ``torch.nn.functional.unfold``.  (The op itself multiplies a whole batch at once: the
    kernels put the images side by side, (C*kh*kw, N*OH*OW), and this is a view of that.)

    ``kernel_size``, ``stride``, ``padding`` (zeros) and ``dilation`` (gap between taps)
    are ints or (height, width) pairs.  Works on NumPy and CuPy arrays.
    """
    if x.ndim != 4:
        raise ValueError(f"minicnn: im2col: expected a 4-D array (N, C, H, W), got shape {tuple(x.shape)}")
    k, s, p, d = _window_args(kernel_size, stride, padding, dilation, "im2col")
    N, K, L = x.shape[0], x.shape[1] * k[0] * k[1], int(np.prod(_check_fits(x.shape, k, s, p, d, "im2col")))
    return _columns(x, (k, s, p, d)).reshape(K, N, L).transpose(1, 0, 2)


def col2im(col, input_shape, kernel_size, stride=1, padding=0, dilation=1):
    """Fold columns back onto an image, adding where windows overlap: (N, C*kh*kw, OH*OW) -> input_shape.

    The adjoint (transpose) of ``im2col``, not its inverse: a pixel covered by m
    windows receives the sum of its m column entries.  That is exactly what the
    backward pass of a convolution needs (``torch.nn.functional.fold`` does the same)::

        col = [1 1 1 1]  (every entry 1)        col2im(col) =  1 2 1
              [1 1 1 1]  3x3 input, 2x2 kernel                 2 4 2
              [1 1 1 1]                                        1 2 1
              [1 1 1 1]                          (centre pixel e lies in all 4 windows)

    ``input_shape`` is the (N, C, H, W) shape that ``im2col`` was given; the other
    settings are as for ``im2col``.  Works on NumPy and CuPy arrays.
    """
    k, s, p, d = _window_args(kernel_size, stride, padding, dilation, "col2im")
    if len(input_shape) != 4:
        raise ValueError(f"minicnn: col2im: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    N, C, H, W = input_shape = tuple(int(n) for n in input_shape)
    OH, OW = _check_fits(input_shape, k, s, p, d, "col2im")
    if tuple(col.shape) != (N, C * k[0] * k[1], OH * OW):
        raise ValueError(f"minicnn: col2im: expected col of shape {(N, C * k[0] * k[1], OH * OW)} "
                         f"for input_shape {input_shape}, got {tuple(col.shape)}")
    return _fold(col.transpose(1, 0, 2).reshape(col.shape[1], N * OH * OW), input_shape, (k, s, p, d))


def _single_pixels(window):
    """A 1x1 kernel with stride 1 and no padding: every window is one pixel, the columns are x's."""
    return tuple(window[0]) == (1, 1) and tuple(window[1]) == (1, 1) and tuple(window[2]) == (0, 0)


def _columns(x, window):
    """x (n, C, H, W) -> col (C*kh*kw, n*L), images side by side; window = (k, s, p, d) pairs."""
    if _single_pixels(window):       # no window copies; a transposed copy of x (a view if n == 1)
        n, C, H, W = x.shape
        return x.reshape(n, C, H * W).transpose(1, 0, 2).reshape(C, n * H * W)
    return dispatch.kernel("im2col", x)(x, *window)


def _fold(col, input_shape, window):
    """The adjoint of ``_columns``: col (C*kh*kw, n*L) -> (n, C, H, W), overlaps summed."""
    if _single_pixels(window):       # no overlaps or gaps
        n, C, H, W = input_shape
        return col.reshape(C, n, H * W).transpose(1, 0, 2).reshape(input_shape)
    return dispatch.kernel("col2im", col)(col, input_shape, *window)


# ----- the op ----------------------------------------------------------------------
# The column matrix is kh*kw times the size of the input (VGG's second layer at batch 4:
# 462 MB).  The op builds it for a few images at a time, at most about this many bytes,
# so the memory a convolution needs stays bounded; the GEMMs of such large columns are
# long enough to run at full speed one image at a time.  Small maps (7x7, 14x14) still
# get several images per chunk, side by side in one GEMM.  At 32 MB,
# AlexNet's step needed 52 MB on top of its weights (PyTorch: 23 MB); at 8 MB, 28 MB,
# at the same speed (benchmarks/models.py, batch 4).
COLUMN_BUDGET_BYTES = 8 * 2**20


def _image_chunks(x, column_elements_per_image):
    """Slices of the batch axis, each holding images whose columns fit the budget (at least one)."""
    per_image = max(column_elements_per_image * x.dtype.itemsize, 1)
    step = max(1, COLUMN_BUDGET_BYTES // per_image)
    # an empty batch gets one empty chunk: the same kernels run (and say so on the GPU)
    return [slice(start, start + step) for start in range(0, max(x.shape[0], 1), step)]


def _for_each_chunk(work, x, column_elements_per_image):
    """[work(part) for part in the budget's chunks of x's images].  On the CPU with Numba,
    each core takes whole chunks, with single-threaded BLAS and kernels, when there are
    enough (minicnn/cpu/threads.py: faster on the small products of early layers than both
    libraries splitting each call).  Not when one image's columns exceed the budget: a
    chunk per core in flight would multiply the memory, and such products are large
    enough for BLAS to split well."""
    parts = _image_chunks(x, column_elements_per_image)
    fits = column_elements_per_image * x.dtype.itemsize <= COLUMN_BUDGET_BYTES
    if fits and len(parts) > 1 and backend.get_array_module(x) is np and backend.numba_enabled():
        try:
            from ..cpu import threads
        except ImportError:          # no Numba: the loop below
            threads = None
        results = threads.map_chunks(work, parts) if threads is not None else None
        if results is not None:
            return results
    return [work(part) for part in parts]


def _side_by_side(a):
    """(n, G, R, L) -> (G, R, n*L), the layout of the columns (a view for n == 1, else a copy)."""
    n, G, R, L = a.shape
    return a.transpose(1, 2, 0, 3).reshape(G, R, n * L)


class Conv2d(Function):
    """x (N, C, H, W), w (O, C/G, kh, kw), b (O,) or None -> y (N, O, OH, OW).

    Settings: stride, padding, dilation (pairs), groups G.  K = C/G*kh*kw, L = OH*OW.
    """
    settings = ("stride", "padding", "dilation", "groups")

    def forward(self, x, w, b):
        xp = backend.get_array_module(x)
        N, O, G = x.shape[0], w.shape[0], self.groups
        K = w.shape[1] * w.shape[2] * w.shape[3]
        OH, OW = output_hw(x.shape, w.shape[2:], self.stride, self.padding, self.dilation)
        L, window = OH * OW, (w.shape[2:], self.stride, self.padding, self.dilation)
        w_mat = w.reshape(G, O // G, K)
        y = xp.empty((N, G, O // G, L), dtype=x.dtype)

        def forward_chunk(part):
            # Rows of col are ordered (c, i, j) with c outermost, so group g owns rows g*K..(g+1)*K.
            n = y[part].shape[0]
            col = _columns(x[part], window).reshape(G, K, n * L)
            y_part = xp.matmul(w_mat, col)         # (G, O/G, K) @ (G, K, n*L) -> (G, O/G, n*L)
            y[part] = y_part.reshape(G, O // G, n, L).transpose(2, 0, 1, 3)

        _for_each_chunk(forward_chunk, x, K * G * L)
        y = y.reshape(N, O, OH, OW)
        if b is not None:
            y += b.reshape(1, O, 1, 1)
        # Keep x rather than col (kh*kw times bigger): backward recomputes col, a cheap copy.
        self.x, self.w = x, w
        return y

    def backward(self, g):
        xp = backend.get_array_module(g)
        x, w, G = self.x, self.w, self.groups
        N, O, K = x.shape[0], w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
        L = g.shape[2] * g.shape[3]          # spelled out, not -1: N may be 0 (an empty batch)
        window = (w.shape[2:], self.stride, self.padding, self.dilation)
        g = g.reshape(N, G, O // G, L)                                 # (N, G, O/G, L)
        w_mat = w.reshape(G, O // G, K)
        gx = xp.empty(x.shape, dtype=g.dtype) if self.needs_input_grad[0] else None
        want_gw = self.needs_input_grad[1]

        def backward_chunk(part):
            g_part = _side_by_side(g[part])                            # (G, O/G, n*L)
            n = g[part].shape[0]
            if gx is not None:   # (G, K, O/G) @ (G, O/G, n*L) -> columns (G, K, n*L), folded
                col = xp.matmul(w_mat.transpose(0, 2, 1), g_part)
                gx[part] = _fold(col.reshape(G * K, n * L), x[part].shape, window)
                del col          # freed before the next columns are built: one in memory at a time
            if want_gw:          # (G, O/G, n*L) @ (G, n*L, K): this chunk's share of gw
                col = _columns(x[part], window).reshape(G, K, n * L)
                return xp.matmul(g_part, col.transpose(0, 2, 1))
            return None

        shares = _for_each_chunk(backward_chunk, x, K * G * L)
        gw = None
        if want_gw:              # summed in chunk order: the same numbers however they ran
            gw = shares[0]
            for share in shares[1:]:
                gw += share
            gw = gw.reshape(w.shape)
        gb = g.sum(axis=(0, 3)).reshape(O) if self.needs_input_grad[2] else None
        return gx, gw, gb


class WinogradConv2d(Function):
    """x (N, C, H, W), w (O, C, 3, 3), b (O,) or None -> y (N, O, OH, OW), stride 1, by
    Winograd's F(2x2, 3x3) (minicnn/functional/winograd.py).  Setting: padding (a pair).
    V, M: (16, C or O, n*T) for the n images of a chunk, T = TH*TW tiles per image."""
    settings = ("padding",)
    stride = dilation = (1, 1)   # fixed: read like Conv2d's settings by summary and viz

    def forward(self, x, w, b):
        xp = backend.get_array_module(x)
        (N, C, H, W), O = x.shape, w.shape[0]
        (OH, OW), (TH, TW) = winograd_tiles((H, W), self.padding)
        T = TH * TW
        U = winograd.weight_transform(w)                                # (16, O, C)
        y = xp.empty((N, O, OH, OW), dtype=x.dtype)
        for part in _image_chunks(x, 16 * (C + O) * T):
            V = dispatch.kernel("winograd_input", x)(x[part], self.padding)
            M = xp.matmul(U, V)                          # (16, O, C) @ (16, C, n*T): 16 GEMMs
            y[part] = dispatch.kernel("winograd_output", M)(M, y[part].shape)
        if b is not None:
            y += b.reshape(1, O, 1, 1)
        self.x, self.U = x, U
        return y

    def backward(self, g):
        xp = backend.get_array_module(g)
        x, U = self.x, self.U
        O, C = U.shape[1:]
        _, (TH, TW) = winograd_tiles(x.shape[2:], self.padding)
        T = TH * TW
        gx = xp.empty(x.shape, dtype=g.dtype) if self.needs_input_grad[0] else None
        dU = xp.zeros(U.shape, dtype=U.dtype) if self.needs_input_grad[1] else None
        for part in _image_chunks(x, 16 * (C + O) * T):
            dM = dispatch.kernel("winograd_output_adjoint", g)(g[part])        # (16, O, n*T)
            if gx is not None:   # (16, C, O) @ (16, O, n*T), then back onto the overlapping tiles
                dV = xp.matmul(U.transpose(0, 2, 1), dM)
                gx[part] = dispatch.kernel("winograd_input_adjoint", dV)(dV, x[part].shape, self.padding)
                del dV           # freed before V is built: one of them in memory at a time
            if dU is not None:   # (16, O, n*T) @ (16, n*T, C)
                V = dispatch.kernel("winograd_input", x)(x[part], self.padding)
                dU += xp.matmul(dM, V.transpose(0, 2, 1))
        gw = None if dU is None else winograd.weight_transform_adjoint(dU)
        gb = g.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return gx, gw, gb


# The autograd Functions that compute conv2d: summary and viz treat them alike.
CONVOLUTIONS = (Conv2d, WinogradConv2d)


# How conv2d computes the layers Winograd can take (3x3 kernel, stride 1, no dilation,
# no groups, floating point): "im2col", "winograd", or "auto", which picks by layer shape
# as cuDNN picks its algorithms.  Winograd does 2.25x fewer multiplications, but in 16
# smaller GEMMs (K = C instead of 9C) and with four passes over arrays 4x the size of the
# activations.  Measured on the 2-core CPU (benchmarks/conv_algorithms.py and whole models,
# docs/benchmarks.md round 4): it wins on VGG's layers of 256 and 512 channels (vgg16's
# step at batch 4 13% faster); on 64-128 channels, and on 7x7 maps, where the 2x2 tiles
# compute 64 outputs for 49, neither algorithm wins by more than the machine's noise.
CONV_ALGORITHM = "auto"
WINOGRAD_MIN_CHANNELS = 256     # "auto" takes Winograd from this many input and output channels
WINOGRAD_MIN_OUTPUT = 14        # and an output at least this high and wide


def conv_algorithm(input_shape, weight_shape, stride, padding, dilation, groups, dtype, on_cpu=True):
    """'winograd' where CONV_ALGORITHM asks for it, or "auto" measured it faster (on the CPU),
    and the layer allows it; else 'im2col'.  Settings are pairs."""
    if CONV_ALGORITHM not in ("auto", "im2col", "winograd"):
        raise ValueError(f"minicnn: conv2d: CONV_ALGORITHM must be 'auto', 'im2col' or 'winograd', "
                         f"got {CONV_ALGORITHM!r}")
    can = (tuple(weight_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
           and groups == 1 and np.dtype(dtype).kind == "f")
    if not can or CONV_ALGORITHM == "im2col":
        return "im2col"
    if CONV_ALGORITHM == "winograd":
        return "winograd"
    OH, OW = output_hw(input_shape, (3, 3), stride, padding, dilation)
    wide = min(weight_shape[0], weight_shape[1]) >= WINOGRAD_MIN_CHANNELS
    large = min(OH, OW) >= WINOGRAD_MIN_OUTPUT
    return "winograd" if on_cpu and wide and large else "im2col"


def _same_padding(kernel, dilation):
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


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (really cross-correlation, as in every deep-learning library).

    input (N, C_in, H, W) or unbatched (C_in, H, W), weight (C_out, C_in/groups, kh, kw),
    bias (C_out,) or None -> (N, C_out, OH, OW) (or (C_out, OH, OW)) with
    OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1.
    ``stride``, ``padding`` and ``dilation`` are ints or pairs; ``padding`` may also be
    'valid' (no padding) or 'same' (stride 1, output as large as the input; an odd number
    of zeros puts the extra one on the right/bottom, as PyTorch does).
    ``groups`` splits the input and output channels into that many independent blocks.
    """
    op = "conv2d"
    if input.ndim not in (3, 4):
        raise ValueError(f"minicnn: {op}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {input.shape}")
    if input.ndim == 3:              # unbatched: a batch of one, as PyTorch does
        y = conv2d(input.reshape((1,) + input.shape), weight, bias, stride, padding, dilation, groups)
        return y.reshape(y.shape[1:])
    if weight.ndim != 4:
        raise ValueError(f"minicnn: {op}: expected a 4-D weight (C_out, C_in/groups, kh, kw), "
                         f"got shape {weight.shape}")
    check_dtype(op, input, "iuf", "a floating-point (or integer) input; PyTorch has no "
                                  "boolean convolution either")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"minicnn: {op}: groups must be a positive int, got {groups!r}")
    C, O = input.shape[1], weight.shape[0]
    if O == 0:
        raise ValueError(f"minicnn: {op}: expected a weight with at least one output channel, "
                         f"got weight of shape {weight.shape}")
    if C % groups or O % groups:
        raise ValueError(f"minicnn: {op}: input channels ({C}) and output channels ({O}) must both "
                         f"be divisible by groups={groups} (weight {weight.shape})")
    if C != weight.shape[1] * groups:
        raise ValueError(f"minicnn: {op}: expected input with {weight.shape[1] * groups} channels "
                         f"(weight {weight.shape}, groups={groups}), got input of shape {input.shape}")
    if bias is not None and bias.shape != (O,):
        raise ValueError(f"minicnn: {op}: expected bias of shape ({O},) for weight {weight.shape}, "
                         f"got {bias.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"minicnn: {op}: input is {input.dtype} but {name} is {t.dtype}; "
                            "convert one of them (e.g. .float() or .double())")
    kernel, crop = weight.shape[2:], (0, 0)
    if isinstance(padding, str):
        check_padding_string(padding, stride, op)
        if padding == "valid":
            padding = 0
        else:
            padding, crop = _same_padding(kernel, pair(dilation, "dilation", op, minimum=1))
    _, stride, padding, dilation = _window_args(kernel, stride, padding, dilation, op)
    _check_fits(input.shape, kernel, stride, padding, dilation, op)
    on_cpu = backend.get_array_module(input.data) is np
    if conv_algorithm(input.shape, weight.shape, stride, padding, dilation, groups, input.dtype,
                      on_cpu) == "winograd":
        y = WinogradConv2d.apply(input, weight, bias, padding=padding)
    else:
        y = Conv2d.apply(input, weight, bias, stride=stride, padding=padding,
                         dilation=dilation, groups=int(groups))
    return y[:, :, crop[0]:, crop[1]:] if any(crop) else y
