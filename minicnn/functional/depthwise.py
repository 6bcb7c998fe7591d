"""Depthwise convolution: ``groups`` equal to the input channels (MobileNet's 3x3 layers).

Each input channel c is convolved alone with its own M filters (M = C_out / C, the
channel multiplier, usually 1), giving output channels c*M .. c*M + M - 1:

    y[n, c*M + m] = sum over taps (i, j) of
                    w[c*M + m, 0, i, j] * x_padded[n, c, tap (i, j) of each window]

As a grouped im2col GEMM (``Conv2d``) that is C separate (M x kh*kw) @ (kh*kw x L)
products: tiny matrices on which BLAS is far below its speed, plus a column matrix
kh*kw times the input.  Computed directly it is a few multiply-adds per output value
(9 for a 3x3 kernel), with no column matrix: a memory-bound loop over the planes.

``conv2d`` takes this op when ``conv_algorithm.choose`` says so (by default for every
floating-point layer with groups == C_in > 1, on the CPU and the GPU).

Kernels: each has a readable NumPy reference here (written against ``xp``, so it also
runs on CuPy), a Numba version in minicnn/cpu/depthwise.py and a CUDA one in
kernels/depthwise.cu and kernels/depthwise_weight.cu.  The references make one pass
per kernel tap (i, j): ``_tap`` is the (N, C, OH, OW) view of the padded input that tap
(i, j) of every window reads, a strided slice.  Settings are (height, width) pairs.
"""
from .. import backend, dispatch
from ..autograd import Function
from ..geometry import ConvolutionShapes, output_hw


def _padded(x, padding):
    """x (N, C, H, W) with ``padding`` zeros on each side (x itself where there are none)."""
    (ph, pw) = padding
    if not (ph or pw):
        return x
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    padded = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=x.dtype)
    padded[:, :, ph:ph + H, pw:pw + W] = x
    return padded


def _tap(padded, i, j, output_hw_, stride, dilation):
    """The pixels of ``padded`` (N, C, Hp, Wp) under tap (i, j) of every window: (N, C, OH, OW),
    a view.  Window (oh, ow) reads padded row oh*sh + i*dh, column ow*sw + j*dw."""
    (OH, OW), (sh, sw), (dh, dw) = output_hw_, stride, dilation
    return padded[:, :, i * dh:i * dh + sh * (OH - 1) + 1:sh, j * dw:j * dw + sw * (OW - 1) + 1:sw]


@dispatch.register("depthwise_forward", "numpy")
def depthwise_forward_numpy(x, w, stride, padding, dilation):
    """x (N, C, H, W), w (C*M, 1, kh, kw) -> y (N, C*M, OH, OW): one pass per tap, adding the
    tap's weight times the pixels it reads."""
    xp = backend.get_array_module(x)
    N, C = x.shape[:2]
    O, _, kh, kw = w.shape
    M = O // C
    OH, OW = output_hw(x.shape, (kh, kw), stride, padding, dilation)
    padded = _padded(x, padding)
    taps = w.reshape(C, M, kh, kw)
    y = xp.zeros((N, C, M, OH, OW), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            seen = _tap(padded, i, j, (OH, OW), stride, dilation)            # (N, C, OH, OW)
            y += taps[:, :, i, j].reshape(1, C, M, 1, 1) * seen[:, :, None]  # each of c's M filters
    return y.reshape(N, O, OH, OW)


@dispatch.register("depthwise_backward_input", "numpy")
def depthwise_backward_input_numpy(g, w, input_shape, stride, padding, dilation):
    """g (N, C*M, OH, OW), w (C*M, 1, kh, kw) -> gx (N, C, H, W) = input_shape: each tap sends
    its weight times g back onto the pixels it read, adding up where windows overlap."""
    xp = backend.get_array_module(g)
    N, C, H, W = input_shape
    O, _, kh, kw = w.shape
    M, (OH, OW), (ph, pw) = O // C, g.shape[2:], padding
    g = g.reshape(N, C, M, OH, OW)
    taps = w.reshape(C, M, kh, kw)
    padded = xp.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=g.dtype)
    for i in range(kh):
        for j in range(kw):
            # within one tap no two windows read the same pixel: a slice-add is safe
            _tap(padded, i, j, (OH, OW), stride, dilation)[...] += (
                g * taps[:, :, i, j].reshape(1, C, M, 1, 1)).sum(axis=2)
    return padded[:, :, ph:ph + H, pw:pw + W]   # gradient that fell on the padding is dropped


@dispatch.register("depthwise_backward_weight", "numpy")
def depthwise_backward_weight_numpy(g, x, kernel_size, stride, padding, dilation):
    """g (N, C*M, OH, OW), x (N, C, H, W) -> gw (C*M, 1, kh, kw): tap (i, j) of filter c*M + m
    is the sum, over images and windows, of g times the pixel the tap read."""
    xp = backend.get_array_module(g)
    N, C = x.shape[:2]
    (kh, kw), O, (OH, OW) = kernel_size, g.shape[1], g.shape[2:]
    M = O // C
    g = g.reshape(N, C, M, OH, OW)
    padded = _padded(x, padding)
    gw = xp.empty((C, M, kh, kw), dtype=g.dtype)
    for i in range(kh):
        for j in range(kw):
            seen = _tap(padded, i, j, (OH, OW), stride, dilation)            # (N, C, OH, OW)
            gw[:, :, i, j] = xp.einsum("ncmhw,nchw->cm", g, seen)
    return gw.reshape(O, 1, kh, kw)


class DepthwiseConv2d(ConvolutionShapes, Function):
    """x (N, C, H, W), w (C*M, 1, kh, kw), b (C*M,) or None -> y (N, C*M, OH, OW): conv2d with
    groups = C, computed tap by tap (module docstring).
    Settings: stride, padding, dilation (pairs)."""
    settings = ("stride", "padding", "dilation")

    def forward(self, x, w, b):
        window = (self.stride, self.padding, self.dilation)
        y = dispatch.kernel("depthwise_forward", x)(x, w, *window)           # (N, O, OH, OW)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)
        self.save_for_backward(x=x, w=w)
        return y

    def backward(self, g):
        x, w = self.x, self.w
        window = (self.stride, self.padding, self.dilation)
        gx = gw = gb = None
        if self.needs_input_grad[0]:                                         # (N, C, H, W)
            gx = dispatch.kernel("depthwise_backward_input", g)(g, w, x.shape, *window)
        if self.needs_input_grad[1]:                                         # (O, 1, kh, kw)
            gw = dispatch.kernel("depthwise_backward_weight", g)(g, x, w.shape[2:], *window)
        if self.needs_input_grad[2]:
            gb = g.sum(axis=(0, 2, 3))
        return gx, gw, gb
