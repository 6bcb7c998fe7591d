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
from ..geometry import ConvolutionShapes, output_hw, pair
from . import conv_algorithm
from .arguments import check_dtype, check_fits, check_padding_string, same_padding, window_args
from .columns import for_each_band, for_each_chunk, output_row_bands
from .depthwise import DepthwiseConv2d
from .winograd import WinogradConv2d


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
    """Unfold every convolution window of ``x`` into a column (PyTorch's ``unfold``).

    (N, C, H, W) -> (N, C*kh*kw, OH*OW).  Column ``oh*OW + ow`` holds the window whose
    top-left corner sits at ``(oh*stride - padding, ow*stride - padding)``; row
    ``c*kh*kw + i*kw + j`` holds kernel tap (i, j) of channel c.  Example: one channel,
    3x3 input, 2x2 kernel, stride 1::

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

    Args:
        x (numpy.ndarray or cupy.ndarray): the images, an array (not a Tensor: this is the
            array-level building block of ``conv2d``, outside autograd).
        kernel_size (int or (int, int)): the window's height and width (kh, kw).
        stride (int or (int, int), optional): the step between windows. Default: ``1``
        padding (int or (int, int), optional): zeros added on each side. Default: ``0``
        dilation (int or (int, int), optional): the spacing between a window's taps.
            Default: ``1``

    Shape:
        - Input: (N, C, H, W).
        - Output: (N, C*kh*kw, OH*OW), with
          OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1 (OW likewise).

    Example::

        >>> x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)      # a..i = 1..9, as above
        >>> F.im2col(x, 2)
        array([[[1., 2., 4., 5.],
                [2., 3., 5., 6.],
                [4., 5., 7., 8.],
                [5., 6., 8., 9.]]])
        >>> F.im2col(np.zeros((2, 3, 8, 8)), 3, stride=2, padding=1).shape
        (2, 27, 16)
    """
    if x.ndim != 4:
        raise ValueError(f"minicnn: im2col: expected a 4-D array (N, C, H, W), got shape {tuple(x.shape)}")
    k, s, p, d = window_args(kernel_size, stride, padding, dilation, "im2col")
    N, K, L = x.shape[0], x.shape[1] * k[0] * k[1], int(np.prod(check_fits(x.shape, k, s, p, d, "im2col")))
    return _columns(x, (k, s, p, d)).reshape(K, N, L).transpose(1, 0, 2)


def col2im(col, input_shape, kernel_size, stride=1, padding=0, dilation=1):
    """Fold columns back onto an image, adding where windows overlap (PyTorch's ``fold``).

    (N, C*kh*kw, OH*OW) -> input_shape.  The adjoint (transpose) of ``im2col``, not its
    inverse: a pixel covered by m windows receives the sum of its m column entries.  That
    is exactly what the backward pass of a convolution needs (``torch.nn.functional.fold``
    does the same)::

        col = [1 1 1 1]  (every entry 1)        col2im(col) =  1 2 1
              [1 1 1 1]  3x3 input, 2x2 kernel                 2 4 2
              [1 1 1 1]                                        1 2 1
              [1 1 1 1]                          (centre pixel e lies in all 4 windows)

    ``input_shape`` is the (N, C, H, W) shape that ``im2col`` was given; the other
    settings are as for ``im2col``.  Works on NumPy and CuPy arrays.

    Args:
        col (numpy.ndarray or cupy.ndarray): the columns, as ``im2col`` returns them.
        input_shape (tuple of 4 ints): the (N, C, H, W) shape of the image to fold onto.
        kernel_size (int or (int, int)): the window's height and width (kh, kw).
        stride (int or (int, int), optional): the step between windows. Default: ``1``
        padding (int or (int, int), optional): the zeros ``im2col`` added on each side
            (what falls on them is dropped). Default: ``0``
        dilation (int or (int, int), optional): the spacing between a window's taps.
            Default: ``1``

    Shape:
        - Input: (N, C*kh*kw, OH*OW).
        - Output: ``input_shape``, (N, C, H, W).

    Example::

        >>> F.col2im(np.ones((1, 4, 4)), (1, 1, 3, 3), 2)       # the picture above
        array([[[[1., 2., 1.],
                 [2., 4., 2.],
                 [1., 2., 1.]]]])
    """
    k, s, p, d = window_args(kernel_size, stride, padding, dilation, "col2im")
    if len(input_shape) != 4:
        raise ValueError(f"minicnn: col2im: input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    N, C, H, W = input_shape = tuple(int(n) for n in input_shape)
    OH, OW = check_fits(input_shape, k, s, p, d, "col2im")
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


def _band_rows(rows, window, H):
    """Output rows [r0, r1) of a band read input rows lo..lo+n, with pad_top zero rows
    above and pad_bottom below (padding only at the image's top and bottom)."""
    (kh, _), (sh, _), (ph, _), (dh, _) = (pair(v) for v in window)
    r0, r1 = rows
    top = r0 * sh - ph                                      # the rows read, in padded
    span = (r1 - 1) * sh + (kh - 1) * dh + 1 - r0 * sh      # coordinates less ph
    pad_top = min(max(-top, 0), span)                       # rows above the image
    pad_bottom = min(max(top + span - H, 0), span - pad_top)    # and below it
    lo = min(max(top + pad_top, 0), H)
    return lo, span - pad_top - pad_bottom, pad_top, pad_bottom


def _band_window(window):
    """The band's window: its rows come padded (``_band_rows``), its columns are padded too."""
    k, stride, _, dilation = window
    return k, stride, (0, 0), dilation


def _band_columns(image, rows, window):
    """The columns of output rows [r0, r1) of one image (C, H, W): (C*kh*kw, (r1-r0)*OW).
    The input rows the band reads are cut out and zero-padded on their own, so the band
    is an im2col without padding."""
    xp = backend.get_array_module(image)
    lo, n, pad_top, pad_bottom = _band_rows(rows, window, image.shape[1])
    pw = pair(window[2])[1]
    slab = xp.pad(image[:, lo:lo + n], ((0, 0), (pad_top, pad_bottom), (pw, pw)))
    return _columns(slab[None], _band_window(window))


def _fold(col, input_shape, window):
    """The adjoint of ``_columns``: col (C*kh*kw, n*L) -> (n, C, H, W), overlaps summed."""
    if _single_pixels(window):       # no overlaps or gaps
        n, C, H, W = input_shape
        return col.reshape(C, n, H * W).transpose(1, 0, 2).reshape(input_shape)
    return dispatch.kernel("col2im", col)(col, input_shape, *window)


def _side_by_side(a):
    """(n, G, R, L) -> (G, R, n*L), the layout of the columns (a view for n == 1, else a copy)."""
    n, G, R, L = a.shape
    return a.transpose(1, 2, 0, 3).reshape(G, R, n * L)


class Conv2d(ConvolutionShapes, Function):
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

        def forward_band(band):       # one image's output rows r0..r1: y[i, :, rows]
            i, (r0, r1) = band
            col = _band_columns(x[i], (r0, r1), window).reshape(G, K, (r1 - r0) * OW)
            y[i, :, :, r0 * OW:r1 * OW] = xp.matmul(w_mat, col)     # (G, O/G, band)

        bands = output_row_bands(x, OH, K * G * OW)
        if bands is None:
            for_each_chunk(forward_chunk, x, K * G * L)
        else:
            for_each_band(forward_band, bands, x)
        y = y.reshape(N, O, OH, OW)
        if b is not None:
            y += b.reshape(1, O, 1, 1)
        # Keep x rather than col (kh*kw times bigger): backward recomputes col, a cheap copy.
        self.save_for_backward(x=x, w=w)
        return y

    def backward(self, g):
        gx, gw = conv2d_backward(g, self.x, self.w, self.stride, self.padding, self.dilation,
                                 self.groups, *self.needs_input_grad[:2])
        gb = g.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return gx, gw, gb

    def backward_graph(self, g):
        return conv2d_backward_graph(self, g, self.stride, self.padding, self.dilation, self.groups)


def conv2d_backward(g, x, w, stride, padding, dilation, groups, want_x, want_w):
    """The two gradients of a convolution's input x and weight w, given g = dL/dy:
    gx (N, C, H, W) = the columns of w.T @ g folded back onto the image, and
    gw (O, C/G, kh, kw) = g @ columns(x).T; None for one not wanted.  Only x's shape is
    used when gw is not wanted, and only w's when gx is not."""
    xp = backend.get_array_module(g)
    G = groups
    N, O, K = x.shape[0], w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    OH, OW = g.shape[2], g.shape[3]
    L = OH * OW                          # spelled out, not -1: N may be 0 (an empty batch)
    window = (w.shape[2:], stride, padding, dilation)
    g = g.reshape(N, G, O // G, L)                                 # (N, G, O/G, L)
    w_mat = w.reshape(G, O // G, K)
    bands = output_row_bands(x, OH, K * G * OW)
    if bands is not None:
        gx, gw = _conv2d_backward_in_bands(g, x, w_mat, window, bands, OW, want_x, want_w)
        return gx, (None if gw is None else gw.reshape(w.shape))
    gx = xp.empty(x.shape, dtype=g.dtype) if want_x else None

    def backward_chunk(part):
        g_part = _side_by_side(g[part])                            # (G, O/G, n*L)
        n = g[part].shape[0]
        if gx is not None:   # (G, K, O/G) @ (G, O/G, n*L) -> columns (G, K, n*L), folded
            col = xp.matmul(w_mat.transpose(0, 2, 1), g_part)
            gx[part] = _fold(col.reshape(G * K, n * L), x[part].shape, window)
            del col          # freed before the next columns are built: one in memory at a time
        if want_w:          # (G, O/G, n*L) @ (G, n*L, K): this chunk's share of gw
            col = _columns(x[part], window).reshape(G, K, n * L)
            return xp.matmul(g_part, col.transpose(0, 2, 1))
        return None

    shares = for_each_chunk(backward_chunk, x, K * G * L)
    gw = None
    if want_w:              # summed in chunk order: the same numbers however they ran
        gw = shares[0]
        for share in shares[1:]:
            gw += share
        gw = gw.reshape(w.shape)
    return gx, gw


def _conv2d_backward_in_bands(g, x, w_mat, window, bands, OW, want_x, want_w):
    """``conv2d_backward`` for images whose columns exceed the budget, in bands of output
    rows (functional/columns.py); g (N, G, O/G, L), w_mat (G, O/G, K).  A band's input rows
    overlap the next band's, so each band folds its column gradient onto its own padded
    rows, and those are added into gx in band order, as the weight gradient's shares are:
    the same numbers however the bands ran.  The bands of a few whole images at a time."""
    xp = backend.get_array_module(g)
    G, K = w_mat.shape[0], w_mat.shape[2]
    C, H, W = x.shape[1:]
    pw = pair(window[2])[1]
    gx = xp.zeros(x.shape, dtype=g.dtype) if want_x else None
    gw = xp.zeros(w_mat.shape, dtype=g.dtype) if want_w else None

    def backward_band(band):
        i, (r0, r1) = band
        g_band = g[i, :, :, r0 * OW:r1 * OW]                       # (G, O/G, b)
        rows_grad = share = None
        if want_x:           # (G, K, O/G) @ (G, O/G, b) -> the band's columns, folded
            col = xp.matmul(w_mat.transpose(0, 2, 1), g_band)
            _, n, pad_top, pad_bottom = _band_rows((r0, r1), window, H)
            padded = (1, C, pad_top + n + pad_bottom, W + 2 * pw)
            rows_grad = _fold(col.reshape(G * K, -1), padded, _band_window(window))
        if want_w:           # (G, O/G, b) @ (G, b, K)
            col = _band_columns(x[i], (r0, r1), window).reshape(G, K, -1)
            share = xp.matmul(g_band, col.transpose(0, 2, 1))
        return rows_grad, share

    for group in _whole_images(bands, BANDS_IN_FLIGHT):
        for (image, rows), (rows_grad, share) in zip(group, for_each_band(backward_band, group, x)):
            if want_x:       # the band's padded rows, less the padding, onto its input rows
                lo, n, pad_top, _ = _band_rows(rows, window, H)
                gx[image, :, lo:lo + n] += rows_grad[0, :, pad_top:pad_top + n, pw:pw + W]
            if want_w:
                gw += share
    return gx, gw


BANDS_IN_FLIGHT = 4      # at least this many bands per call of the pool: 2 cores stay busy


def _whole_images(bands, at_least):
    """``bands`` in groups of whole images, each of at least ``at_least`` bands (but the last):
    what one group's bands return (gradient rows, weight-gradient shares) is held at once."""
    groups, group = [], []
    for k, band in enumerate(bands):
        group.append(band)
        image_ends = k + 1 == len(bands) or bands[k + 1][0] != band[0]
        if image_ends and len(group) >= at_least:
            groups.append(group)
            group = []
    return groups + [group] * bool(group)


# ----- double backward: the convolution's two gradients as ops ---------------------------
# y = conv(x, w) is linear in x and in w, so its gradients gx = ConvInputGrad(g, w) and
# gw = ConvWeightGrad(x, g) are linear in each of their inputs too, and their derivatives
# are again convolutions or convolution gradients: the three ops differentiate each other.
def conv2d_backward_graph(fn, g, stride, padding, dilation, groups):
    """``backward_graph`` of a convolution (Conv2d, WinogradConv2d) that saved x and w."""
    need_x, need_w, need_b = fn.needs_input_grad
    geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    gx = ConvInputGrad.apply(g, fn.input_tensor(1, fn.w), x_shape=fn.input_shapes[0],
                             **geometry) if need_x else None
    gw = ConvWeightGrad.apply(fn.input_tensor(0, fn.x), g, w_shape=fn.input_shapes[1],
                              **geometry) if need_w else None
    return gx, gw, (g.sum(dim=(0, 2, 3)) if need_b else None)


def _stand_in(shape, like):
    """An array of ``shape`` that costs no memory, for an operand only whose shape is used."""
    xp = backend.get_array_module(like)
    return xp.broadcast_to(xp.zeros((), dtype=like.dtype), shape)


class ConvInputGrad(Function):
    """g (N, O, OH, OW), w -> the convolution's input gradient (N, C, H, W) (a transposed
    convolution).  d/dg is the convolution of the upstream v with w; d/dw is the weight
    gradient of that convolution of v, given g."""
    settings = ("x_shape", "stride", "padding", "dilation", "groups")

    def forward(self, g, w):
        self.save_for_backward(g=g, w=w)
        return conv2d_backward(g, _stand_in(self.x_shape, g), w, self.stride, self.padding,
                               self.dilation, self.groups, True, False)[0]

    def backward_graph(self, v):             # v: (N, C, H, W)
        need_g, need_w = self.needs_input_grad
        geometry = dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                        groups=self.groups)
        gg = Conv2d.apply(v, self.input_tensor(1, self.w), None, **geometry) if need_g else None
        gw = ConvWeightGrad.apply(v, self.input_tensor(0, self.g), w_shape=self.w.shape,
                                  **geometry) if need_w else None
        return gg, gw


class ConvWeightGrad(Function):
    """x (N, C, H, W), g (N, O, OH, OW) -> the convolution's weight gradient (O, C/G, kh, kw).
    d/dx is the input gradient of a convolution by the upstream V, given g; d/dg is the
    convolution of x by V."""
    settings = ("w_shape", "stride", "padding", "dilation", "groups")

    def forward(self, x, g):
        self.save_for_backward(x=x, g=g)
        return conv2d_backward(g, x, _stand_in(self.w_shape, g), self.stride, self.padding,
                               self.dilation, self.groups, False, True)[1]

    def backward_graph(self, v):             # v: (O, C/G, kh, kw)
        need_x, need_g = self.needs_input_grad
        geometry = dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                        groups=self.groups)
        gx = ConvInputGrad.apply(self.input_tensor(1, self.g), v, x_shape=self.x.shape,
                                 **geometry) if need_x else None
        gg = Conv2d.apply(self.input_tensor(0, self.x), v, None, **geometry) if need_g else None
        return gx, gg


def _winograd_backward_graph(self, g):
    return conv2d_backward_graph(self, g, (1, 1), self.padding, (1, 1), 1)


# Winograd's convolution has any convolution's gradients, so the same double backward; it is
# attached here, where the gradient ops live (winograd.py sits below this module)
WinogradConv2d.backward_graph = _winograd_backward_graph


def _depthwise_backward_graph(self, g):
    return conv2d_backward_graph(self, g, self.stride, self.padding, self.dilation,
                                 self.input_shapes[0][1])


# Depthwise convolution likewise: a convolution with groups = its input's channels
DepthwiseConv2d.backward_graph = _depthwise_backward_graph


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (really cross-correlation, as in every deep-learning library).

    input (N, C_in, H, W) or unbatched (C_in, H, W), weight (C_out, C_in/groups, kh, kw),
    bias (C_out,) or None -> (N, C_out, OH, OW) (or (C_out, OH, OW)) with
    OH = floor((H + 2*padding - dilation*(kh-1) - 1) / stride) + 1.
    ``stride``, ``padding`` and ``dilation`` are ints or pairs; ``padding`` may also be
    'valid' (no padding) or 'same' (stride 1, output as large as the input; an odd number
    of zeros puts the extra one on the right/bottom, as PyTorch does).
    ``groups`` splits the input and output channels into that many independent blocks.

    As ``torch.nn.functional.conv2d``.  It runs as one matrix product over ``im2col``'s
    columns (or, on the CPU for large 3x3 layers, as Winograd's F(2x2, 3x3); a depthwise
    layer, groups == C_in, tap by tap); the weight and bias must have the input's dtype.

    Args:
        input (Tensor): the images.
        weight (Tensor): the filters, (C_out, C_in/groups, kh, kw).
        bias (Tensor, optional): one value per output channel, (C_out,). Default: ``None``
        stride (int or (int, int), optional): the step between windows. Default: ``1``
        padding (int, (int, int) or str, optional): zeros added on each side, or ``'valid'``
            or ``'same'``. Default: ``0``
        dilation (int or (int, int), optional): the spacing between a filter's taps.
            Default: ``1``
        groups (int, optional): how many independent blocks the channels split into; C_in
            and C_out must both divide by it. Default: ``1``

    Shape:
        - Input: (N, C_in, H, W) or (C_in, H, W).
        - Weight: (C_out, C_in/groups, kh, kw).
        - Bias: (C_out,).
        - Output: (N, C_out, OH, OW) or (C_out, OH, OW).

    Example::

        >>> x = mc.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
        >>> F.conv2d(x, mc.tensor(np.ones((1, 1, 2, 2))))          # sums of 2x2 windows
        tensor([[[[10., 14., 18.],
                  [26., 30., 34.],
                  [42., 46., 50.]]]], dtype=float64)
        >>> x, w = mc.tensor(np.ones((2, 3, 8, 8))), mc.tensor(np.ones((4, 3, 3, 3)))
        >>> F.conv2d(x, w, stride=2, padding=1).shape
        (2, 4, 4, 4)
        >>> F.conv2d(x[0], mc.tensor(np.ones((6, 1, 3, 3))), padding='same', groups=3).shape
        (6, 8, 8)
    """
    op = "conv2d"
    if input.ndim not in (3, 4):
        raise ValueError(f"minicnn: {op}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got shape {input.shape}")
    if weight.ndim != 4:
        raise ValueError(f"minicnn: {op}: expected a 4-D weight (C_out, C_in/groups, kh, kw), "
                         f"got shape {weight.shape}")
    check_dtype(op, input, "iuf", "a floating-point (or integer) input; PyTorch has no "
                                  "boolean convolution either")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"minicnn: {op}: groups must be a positive int, got {groups!r}")
    C, O = input.shape[-3], weight.shape[0]
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
    if input.ndim == 3:              # unbatched: a batch of one, as PyTorch does
        y = conv2d(input.reshape((1,) + input.shape), weight, bias, stride, padding, dilation, groups)
        return y.reshape(y.shape[1:])
    kernel, crop = weight.shape[2:], (0, 0)
    if isinstance(padding, str):
        check_padding_string(padding, stride, op)
        if padding == "valid":
            padding = 0
        else:
            padding, crop = same_padding(kernel, pair(dilation, "dilation", op, minimum=1))
    _, stride, padding, dilation = window_args(kernel, stride, padding, dilation, op)
    check_fits(input.shape, kernel, stride, padding, dilation, op)
    on_cpu = backend.get_array_module(input.data) is np
    algorithm = conv_algorithm.choose(input.shape, weight.shape, stride, padding, dilation, groups,
                                      input.dtype, on_cpu)
    if algorithm == "winograd":
        y = WinogradConv2d.apply(input, weight, bias, padding=padding)
    elif algorithm == "depthwise":
        y = DepthwiseConv2d.apply(input, weight, bias, stride=stride, padding=padding,
                                  dilation=dilation)
    else:
        y = Conv2d.apply(input, weight, bias, stride=stride, padding=padding,
                         dilation=dilation, groups=int(groups))
    return y[:, :, crop[0]:, crop[1]:] if any(crop) else y
