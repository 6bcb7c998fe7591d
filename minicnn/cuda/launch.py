"""The launch layer: the one place that calls the CUDA kernels in kernels/*.cu.

``KernelOps(xp, loader)`` turns each kernel into an array function whose arguments
mirror the NumPy reference it stands in for (``im2col(x, kernel_size, stride,
padding, dilation) -> col``).  For every call it works out the output shape, the
launch size and the exact C type of every argument (device pointers, 64-bit sizes,
scalars of the array's dtype), then launches.  Each method registers itself with
``minicnn.dispatch`` as the "cuda" implementation of the kernel of the same name.

    on a GPU:   KernelOps(cupy, CupyLoader(cupy))     -- what minicnn.cuda.ops() returns
    in tests:   KernelOps(numpy, EmulationLoader())   -- the same code on the CPU

Launch size: one thread per output element, ``block`` threads per block and enough
blocks to cover them, but at most ``max_grid`` blocks; the kernels' grid-stride loops
cover any remainder.  ``grid`` fixes the number of blocks instead (tests use odd
sizes such as grid=3, block=7 to prove the grid-stride loops).  A cooperative kernel
(a reduction: the threads of a block share one output's work) gets one block per
output instead, of at most ``COOPERATIVE_THREADS`` threads, the size of its shared
arrays; its block-stride loop covers outputs past ``max_grid`` (or ``grid``).
"""
import numpy as np

from .. import dispatch
from ..geometry import output_hw, output_tiles, pair, winograd_tiles
from .loader import check_dtype

# Threads per block of a cooperative kernel, at most: its SHARED arrays hold one value
# per thread (kernels/block_sum.h's BLOCK_SUM_THREADS).
COOPERATIVE_THREADS = 256


def _i64(*values):
    """Sizes and options as C long long (what every kernel takes)."""
    return [np.int64(v) for v in values]


def _ncs(x):
    """(N, C, S) of an (N, C, ...) array as C long longs: the norm kernels' view, S = H*W
    (1 for (N, C)).  Not S = size // (N*C) alone: N or C may be 0."""
    n, c = x.shape[:2]
    return _i64(n, c, x.size // max(n * c, 1))


def _check_no_dilation(rows, cols):
    if rows.step != 1 or cols.step != 1:
        raise ValueError("minicnn: cuda avg pooling: windows must have step 1 (no dilation), "
                         f"got steps {rows.step}, {cols.step}")


class KernelOps:
    def __init__(self, xp, loader, block=256, grid=None, max_grid=65535):
        self.xp, self.loader = xp, loader
        self.block, self.grid, self.max_grid = int(block), grid, int(max_grid)
        self._table_cache = {}

    # ----- the launch itself ---------------------------------------------------------------
    def _launch(self, file, name, outputs, dtype, *args, per_block=False):
        """Run kernels/<file>.cu's KERNEL(name) for ``dtype`` with one thread per output,
        or, ``per_block``, one block per output (a cooperative kernel's reduction)."""
        if outputs == 0:
            return                       # CUDA rejects an empty grid
        block = min(self.block, COOPERATIVE_THREADS) if per_block else self.block
        grid = self.grid or min(-(-outputs // (1 if per_block else block)), self.max_grid)
        kernel = self.loader(file, name, dtype)
        kernel((int(grid),), (block,), tuple(args))

    def _input(self, x, op):
        """A C-contiguous float32/float64 array (kernels see raw memory, not strides)."""
        check_dtype(x.dtype, f"cuda {op}")
        return self.xp.ascontiguousarray(x)

    def _like(self, v, x):
        """A (C,)-vector ``v`` in x's dtype, contiguous."""
        return self.xp.ascontiguousarray(self.xp.asarray(v, dtype=x.dtype))

    # ----- convolution: im2col / col2im ---------------------------------------------------
    @dispatch.register("im2col", "cuda")
    def im2col(self, x, kernel_size, stride=1, padding=0, dilation=1):
        # x: (N, C, H, W) -> col: (C*kh*kw, N*OH*OW), the images side by side
        k, s, p, d = map(pair, (kernel_size, stride, padding, dilation))
        x = self._input(x, "im2col")
        n, c, h, w = x.shape
        oh, ow = output_hw((h, w), k, s, p, d)
        col = self.xp.empty((c * k[0] * k[1], n * oh * ow), x.dtype)
        self._launch("conv", "im2col", col.size, x.dtype, x, col,
                     *_i64(n, c, h, w, *k, oh, ow, *s, *p, *d))
        return col

    @dispatch.register("col2im", "cuda")
    def col2im(self, col, input_shape, kernel_size, stride=1, padding=0, dilation=1):
        # col: (C*kh*kw, N*OH*OW) -> x: input_shape = (N, C, H, W), overlaps summed
        k, s, p, d = map(pair, (kernel_size, stride, padding, dilation))
        col = self._input(col, "col2im")
        n, c, h, w = input_shape
        oh, ow = output_hw((h, w), k, s, p, d)
        if col.shape != (c * k[0] * k[1], n * oh * ow):
            raise ValueError(f"minicnn: cuda col2im: expected col of shape "
                             f"{(c * k[0] * k[1], n * oh * ow)} for input {tuple(input_shape)}, "
                             f"got {col.shape}")
        x = self.xp.empty((n, c, h, w), col.dtype)
        self._launch("conv", "col2im", x.size, col.dtype, col, x,
                     *_i64(n, c, h, w, *k, oh, ow, *s, *p, *d))
        return x

    # ----- depthwise convolution (minicnn/functional/depthwise.py) ---------------------------
    def _depthwise_args(self, input_shape, weight_shape, stride, padding, dilation):
        """The sizes every depthwise kernel takes: N, C, H, W, O, KH, KW, OH, OW, the settings."""
        n, c, h, w = input_shape
        o, _, kh, kw = weight_shape
        oh, ow = output_hw((h, w), (kh, kw), stride, padding, dilation)
        return _i64(n, c, h, w, o, kh, kw, oh, ow, *stride, *padding, *dilation)

    @dispatch.register("depthwise_forward", "cuda")
    def depthwise_forward(self, x, w, stride, padding, dilation):
        # x: (N, C, H, W), w: (C*M, 1, kh, kw) -> y: (N, C*M, OH, OW)
        x, w = self._input(x, "depthwise conv2d"), self._input(w, "depthwise conv2d")
        sizes = self._depthwise_args(x.shape, w.shape, stride, padding, dilation)
        y = self.xp.empty((x.shape[0], w.shape[0], int(sizes[7]), int(sizes[8])), x.dtype)
        self._launch("depthwise", "depthwise_forward", y.size, x.dtype, x, w, y, *sizes)
        return y

    @dispatch.register("depthwise_backward_input", "cuda")
    def depthwise_backward_input(self, g, w, input_shape, stride, padding, dilation):
        # g: (N, C*M, OH, OW), w: (C*M, 1, kh, kw) -> gx: input_shape = (N, C, H, W)
        g, w = (self._input(a, "depthwise conv2d backward") for a in (g, w))
        gx = self.xp.empty(tuple(input_shape), g.dtype)
        self._launch("depthwise", "depthwise_backward_input", gx.size, g.dtype, g, w, gx,
                     *self._depthwise_args(input_shape, w.shape, stride, padding, dilation))
        return gx

    @dispatch.register("depthwise_backward_weight", "cuda")
    def depthwise_backward_weight(self, g, x, kernel_size, stride, padding, dilation):
        # g: (N, C*M, OH, OW), x: (N, C, H, W) -> gw: (C*M, 1, kh, kw); one block per element
        g, x = (self._input(a, "depthwise conv2d backward") for a in (g, x))
        gw = self.xp.empty((g.shape[1], 1) + tuple(kernel_size), g.dtype)
        self._launch("depthwise_weight", "depthwise_backward_weight", gw.size, g.dtype, g, x, gw,
                     *self._depthwise_args(x.shape, gw.shape, stride, padding, dilation),
                     per_block=True)
        return gw

    # ----- Winograd F(2x2, 3x3) transforms (minicnn/functional/winograd.py) ------------------
    @dispatch.register("winograd_input", "cuda")
    def winograd_input(self, x, padding):
        # x: (N, C, H, W) -> V: (16, C, N*TH*TW)
        x = self._input(x, "winograd_input")
        n, c, h, w = x.shape
        _, (th, tw) = winograd_tiles((h, w), padding)
        V = self.xp.empty((16, c, n * th * tw), x.dtype)
        self._launch("winograd", "winograd_input", V.size, x.dtype, x, V,
                     *_i64(n, c, h, w, *padding, th, tw))
        return V

    @dispatch.register("winograd_input_adjoint", "cuda")
    def winograd_input_adjoint(self, dV, input_shape, padding):
        # dV: (16, C, N*TH*TW) -> dx: input_shape = (N, C, H, W)
        dV = self._input(dV, "winograd_input_adjoint")
        n, c, h, w = input_shape
        _, (th, tw) = winograd_tiles((h, w), padding)
        if dV.shape != (16, c, n * th * tw):
            raise ValueError(f"minicnn: cuda winograd_input_adjoint: expected dV of shape "
                             f"{(16, c, n * th * tw)} for input {tuple(input_shape)}, got {dV.shape}")
        dx = self.xp.empty((n, c, h, w), dV.dtype)
        self._launch("winograd", "winograd_input_adjoint", dx.size, dV.dtype, dV, dx,
                     *_i64(n, c, h, w, *padding, th, tw))
        return dx

    @dispatch.register("winograd_output", "cuda")
    def winograd_output(self, M, output_shape):
        # M: (16, O, N*TH*TW) -> y: output_shape = (N, O, OH, OW)
        M = self._input(M, "winograd_output")
        n, o, oh, ow = output_shape
        th, tw = output_tiles((oh, ow))
        if M.shape != (16, o, n * th * tw):
            raise ValueError(f"minicnn: cuda winograd_output: expected M of shape "
                             f"{(16, o, n * th * tw)} for output {tuple(output_shape)}, got {M.shape}")
        y = self.xp.empty((n, o, oh, ow), M.dtype)
        self._launch("winograd", "winograd_output", y.size, M.dtype, M, y,
                     *_i64(n, o, oh, ow, th, tw))
        return y

    @dispatch.register("winograd_output_adjoint", "cuda")
    def winograd_output_adjoint(self, g):
        # g: (N, O, OH, OW) -> dM: (16, O, N*TH*TW)
        g = self._input(g, "winograd_output_adjoint")
        n, o, oh, ow = g.shape
        th, tw = output_tiles((oh, ow))
        dM = self.xp.empty((16, o, n * th * tw), g.dtype)
        self._launch("winograd", "winograd_output_adjoint", dM.size, g.dtype, g, dM,
                     *_i64(n, o, oh, ow, th, tw))
        return dM

    # ----- pooling ---------------------------------------------------------------------------
    # The pooling kernels take the CPU code's window tables (minicnn/geometry.py,
    # ``Windows``): output row oh pools rows.start[oh], + rows.step, ... < rows.stop[oh].
    def _tables(self, windows, size):
        """Device copies of a window table and of its inverse: the windows holding input
        position i all lie in [lo[i], hi[i]).  Cached per geometry (a handful per network)."""
        start, stop = np.asarray(windows.start, np.int64), np.asarray(windows.stop, np.int64)
        key = (start.tobytes(), stop.tobytes(), int(windows.step), int(size))
        if key not in self._table_cache:
            i = np.arange(size)
            holds = (start[:, None] <= i) & (i < stop[:, None])            # (out, size)
            found = holds.any(axis=0)
            lo = np.where(found, holds.argmax(axis=0), 0)
            hi = np.where(found, len(start) - holds[::-1].argmax(axis=0), 0)
            if len(self._table_cache) > 512:
                self._table_cache.clear()
            self._table_cache[key] = tuple(self.xp.asarray(a, dtype=np.int64)
                                           for a in (start, stop, lo, hi))
        return self._table_cache[key]

    @dispatch.register("max_pool_forward", "cuda")
    def max_pool_forward(self, x, rows, cols):
        # x: (B, H, W) -> values, argmax: (B, OH, OW); argmax = h*W + w within each plane
        x = self._input(x, "max_pool2d")
        B, H, W = x.shape
        (r_start, r_stop, _, _), (c_start, c_stop, _, _) = self._tables(rows, H), self._tables(cols, W)
        OH, OW = len(r_start), len(c_start)
        out = self.xp.empty((B, OH, OW), x.dtype)
        argmax = self.xp.empty((B, OH, OW), np.int64)
        self._launch("pool", "max_pool_forward", out.size, x.dtype, x, out, argmax,
                     r_start, r_stop, c_start, c_stop,
                     *_i64(B, H, W, OH, OW, rows.step, cols.step))
        return out, argmax

    @dispatch.register("max_pool_backward", "cuda")
    def max_pool_backward(self, g, argmax, H, W, rows, cols):
        # g, argmax: (B, OH, OW) -> grad: (B, H, W).  Unlike the CPU scatter, the gather
        # needs the windows, to find the outputs that may point at each input.
        g = self._input(g, "max_pool2d backward")
        argmax = self.xp.ascontiguousarray(self.xp.asarray(argmax, dtype=np.int64))
        (_, _, r_lo, r_hi), (_, _, c_lo, c_hi) = self._tables(rows, H), self._tables(cols, W)
        B, OH, OW = g.shape
        grad = self.xp.empty((B, H, W), g.dtype)
        self._launch("pool", "max_pool_backward", grad.size, g.dtype, g, argmax, grad,
                     r_lo, r_hi, c_lo, c_hi, *_i64(B, H, W, OH, OW))
        return grad

    @dispatch.register("avg_pool_forward", "cuda")
    def avg_pool_forward(self, x, rows, cols, divisor):
        # x: (B, H, W), divisor: (OH, OW) -> (B, OH, OW)
        x = self._input(x, "avg_pool2d")
        _check_no_dilation(rows, cols)
        B, H, W = x.shape
        (r_start, r_stop, _, _), (c_start, c_stop, _, _) = self._tables(rows, H), self._tables(cols, W)
        OH, OW = len(r_start), len(c_start)
        out = self.xp.empty((B, OH, OW), x.dtype)
        self._launch("pool", "avg_pool_forward", out.size, x.dtype, x, self._like(divisor, x), out,
                     r_start, r_stop, c_start, c_stop, *_i64(B, H, W, OH, OW))
        return out

    @dispatch.register("avg_pool_backward", "cuda")
    def avg_pool_backward(self, g, rows, cols, divisor, H, W):
        # g: (B, OH, OW), divisor: (OH, OW) -> grad: (B, H, W)
        g = self._input(g, "avg_pool2d backward")
        _check_no_dilation(rows, cols)
        B, OH, OW = g.shape
        r_start, r_stop, r_lo, r_hi = self._tables(rows, H)
        c_start, c_stop, c_lo, c_hi = self._tables(cols, W)
        grad = self.xp.empty((B, H, W), g.dtype)
        self._launch("pool", "avg_pool_backward", grad.size, g.dtype, g, self._like(divisor, g),
                     grad, r_start, r_stop, c_start, c_stop, r_lo, r_hi, c_lo, c_hi,
                     *_i64(B, H, W, OH, OW))
        return grad

    # ----- normalisation --------------------------------------------------------------------
    @dispatch.register("batch_norm_stats", "cuda")
    def batch_norm_stats(self, x):
        # x: (N, C, ...) with N*H*W > 0 -> mean, var: (C,), var biased; one block per channel
        x = self._input(x, "batch_norm")
        mean, var = self.xp.empty(x.shape[1], x.dtype), self.xp.empty(x.shape[1], x.dtype)
        self._launch("norm", "batch_norm_stats", x.shape[1], x.dtype, x, mean, var,
                     *_ncs(x), per_block=True)
        return mean, var

    @dispatch.register("batch_norm_backward_sums", "cuda")
    def batch_norm_backward_sums(self, grad_out, xhat):
        # grad_out, xhat: (N, C, ...) -> sum(grad_out), sum(grad_out * xhat) per channel: (C,)
        # (N may be 0: the sums are 0); one block per channel
        g = self._input(grad_out, "batch_norm backward")
        xhat = self._input(xhat, "batch_norm backward")
        sum_g, sum_gxhat = self.xp.empty(g.shape[1], g.dtype), self.xp.empty(g.shape[1], g.dtype)
        self._launch("norm", "batch_norm_backward_sums", g.shape[1], g.dtype, g, xhat,
                     sum_g, sum_gxhat, *_ncs(g), per_block=True)
        return sum_g, sum_gxhat

    @dispatch.register("batch_norm_forward", "cuda")
    def batch_norm_forward(self, x, mean, invstd, weight=None, bias=None):
        # x: (N, C, ...); mean, invstd, weight, bias: (C,) -> out = xhat * weight + bias,
        # like x (xhat itself without weight and bias)
        x = self._input(x, "batch_norm")
        c = x.shape[1]
        weight = self.xp.ones(c, x.dtype) if weight is None else weight
        bias = self.xp.zeros(c, x.dtype) if bias is None else bias
        out = self.xp.empty(x.shape, x.dtype)
        self._launch("norm", "batch_norm_forward", x.size, x.dtype, x, self._like(mean, x),
                     self._like(invstd, x), self._like(weight, x), self._like(bias, x),
                     out, *_ncs(x))
        return out

    @dispatch.register("batch_norm_backward", "cuda")
    def batch_norm_backward(self, grad_out, xhat, scale, mean_g=None, mean_gxhat=None):
        # grad_out, xhat: (N, C, ...); scale = invstd * weight, mean_g, mean_gxhat: (C,)
        # -> grad_x = (grad_out - mean_g - xhat * mean_gxhat) * scale
        #    (eval: the means are None, and grad_x = grad_out * scale)
        g = self._input(grad_out, "batch_norm backward")
        xhat = self._input(xhat, "batch_norm backward")
        training = mean_g is not None
        unused = self.xp.zeros(g.shape[1], g.dtype)      # eval: the kernel reads no mean
        mean_g = mean_g if training else unused
        mean_gxhat = mean_gxhat if training else unused
        gx = self.xp.empty(g.shape, g.dtype)
        self._launch("norm", "batch_norm_backward", g.size, g.dtype, g, xhat,
                     self._like(scale, g), self._like(mean_g, g), self._like(mean_gxhat, g),
                     gx, *_ncs(g), *_i64(training))
        return gx

    @dispatch.register("lrn_forward", "cuda")
    def lrn_forward(self, a, size, alpha=1e-4, beta=0.75, k=1.0):
        # a: (N, C, ...) -> out, s: like a; s = k + alpha/size * (window sum of a^2)
        a = self._input(a, "local_response_norm")
        out, s = self.xp.empty(a.shape, a.dtype), self.xp.empty(a.shape, a.dtype)
        real = a.dtype.type
        self._launch("norm", "lrn_forward", a.size, a.dtype, a, out, s, *_ncs(a), *_i64(size),
                     real(alpha / size), real(beta), real(k))
        return out, s

    @dispatch.register("lrn_backward", "cuda")
    def lrn_backward(self, grad_out, a, out, s, size, alpha=1e-4, beta=0.75):
        # grad_out, a, out, s (from lrn_forward): (N, C, ...) -> grad_a: like a
        g = self._input(grad_out, "local_response_norm backward")
        a, out, s = (self._input(v, "local_response_norm backward") for v in (a, out, s))
        ga = self.xp.empty(g.shape, g.dtype)
        real = g.dtype.type
        self._launch("norm", "lrn_backward", g.size, g.dtype, g, a, out, s, ga,
                     *_ncs(g), *_i64(size),
                     real(beta), real(2 * alpha * beta / size))
        return ga

    # ----- activation and dropout ------------------------------------------------------------
    @dispatch.register("relu_forward", "cuda")
    def relu_forward(self, x):
        x = self._input(x, "relu")
        out = self.xp.empty(x.shape, x.dtype)
        self._launch("activation", "relu_forward", x.size, x.dtype, x, out, np.int64(x.size))
        return out

    @dispatch.register("relu_backward", "cuda")
    def relu_backward(self, grad_out, out):
        # 0 where the output is <= 0, else the gradient (a NaN input passes its gradient)
        g, out = self._input(grad_out, "relu backward"), self._input(out, "relu backward")
        gx = self.xp.empty(g.shape, g.dtype)
        self._launch("activation", "relu_backward", g.size, g.dtype, g, out, gx, np.int64(g.size))
        return gx

    @dispatch.register("map_chunks", "cuda")
    def map_chunks(self, work, parts):
        # A convolution's chunks of images run one after another on the stream: each
        # chunk's own kernels fill the device (minicnn/functional/columns.py).
        return [work(part) for part in parts]

    @dispatch.register("masked_scale", "cuda")
    def masked_scale(self, x, mask):
        # x: (N, C, ...); mask: x.shape (dropout) or (N, C, 1, ...) (dropout2d), holding
        # 0 or 1/(1-p) -> x * mask.  Also dropout's backward (mask is a constant).
        x = self._input(x, "dropout")
        if not any(tuple(mask.shape) == x.shape[:k] + (1,) * (x.ndim - k) for k in range(x.ndim + 1)):
            raise ValueError(f"minicnn: cuda dropout: mask of shape {tuple(mask.shape)} does not "
                             f"match input {x.shape} (same shape, or (N, C, 1, ...))")
        out = self.xp.empty(x.shape, x.dtype)
        mask = self._like(mask, x)
        self._launch("activation", "masked_scale", x.size, x.dtype, x, mask, out,
                     *_i64(x.size, x.size // max(mask.size, 1)))
        return out
