"""Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2015): a second algorithm for
3x3 stride-1 convolutions.  ``conv2d`` takes it when ``minicnn.functional.conv_algorithm``
chooses it: where the user asks for it, and by default ("auto") on the layers where it
measured faster on the CPU (256 or more channels in and out, outputs of 14x14 or more).

A 2x2 block of outputs of a 3x3 filter w reads a 4x4 tile d of the input.  Directly that
is 36 multiplies; Winograd's identity needs 16::

    y (2x2) = A^T [ (G w G^T)  *  (B^T d B) ] A        (* elementwise, on 4x4 arrays)

B^T, G and A^T (below) hold only 0, +-1 and 1/2: the transforms are additions.  Summed
over input channels, the 16 elementwise products of every tile become 16 matrix
products, one per position (a, b) of the 4x4 array:

    M[ab] (O, T)  =  U[ab] (O, C)  @  V[ab] (C, T)      U = G w G^T, V = B^T d B, T tiles

2.25 times fewer multiplications than im2col's GEMM, for four passes over
memory-bound arrays (V and M are 4x the input and the output).  The numbers agree with
direct convolution to rounding: the transforms are exact in any precision but ``G``'s
halves, so float32 results differ from im2col's by a few units in the last place.

Backward is the adjoint of each linear step, in reverse order:

    dM = A g A^T   (g zero-padded to whole tiles)
    dU[ab] = dM[ab] @ V[ab]^T          -> dw = G^T dU G
    dV[ab] = U[ab]^T @ dM[ab]          -> dx = B dV B^T, summed where tiles overlap

Kernels: the four transforms of activations, each with a readable NumPy reference
here (written against ``xp``), a Numba version in minicnn/cpu/winograd.py and a CUDA one
in kernels/winograd.cu.  Layout: tile t = (n*TH + ty)*TW + tx covers output rows
2ty, 2ty+1 and columns 2tx, 2tx+1, input rows 2ty - ph .. 2ty - ph + 3 (likewise columns).
"""
import numpy as np

from .. import backend, dispatch
from ..autograd import Function
from ..geometry import ConvolutionShapes, output_tiles, window_tables, winograd_tiles
from .columns import image_chunks

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)


# ----- weights: tiny, plain xp code --------------------------------------------------------
# U[ab] = sum_pq G[a, p] w[p, q] G[b, q]: a linear map from the 9 taps to the 16 positions,
# whose matrix is the Kronecker product of G with itself.  So the transform of all O*C
# filters at once is one small matrix product, and its adjoint the product by the transpose.
G_KRON_G = np.kron(G, G)                                 # (16 positions ab, 9 taps pq)


def weight_transform(w):
    """w (O, C, 3, 3) -> U (16, O, C) = G w G^T at each (o, c), positions ab = a*4 + b."""
    xp = backend.get_array_module(w)
    O, C = w.shape[:2]
    taps = w.reshape(O * C, 9).T                                        # (9, O*C), a view
    return xp.matmul(xp.asarray(G_KRON_G, dtype=w.dtype), taps).reshape(16, O, C)


def weight_transform_adjoint(dU):
    """dU (16, O, C) -> dw (O, C, 3, 3) = G^T dU G at each (o, c)."""
    xp = backend.get_array_module(dU)
    _, O, C = dU.shape
    positions = dU.reshape(16, O * C).T                                 # (O*C, 16), a view
    return xp.matmul(positions, xp.asarray(G_KRON_G, dtype=dU.dtype)).reshape(O, C, 3, 3)


# ----- activations: the dispatched kernels' references --------------------------------------------
def _tile_view(padded, TH, TW):
    """(N, C, 2TH+2, 2TW+2) -> the overlapping 4x4 tiles (N, C, TH, TW, 4, 4), a view."""
    xp = backend.get_array_module(padded)
    sN, sC, sH, sW = padded.strides
    return xp.lib.stride_tricks.as_strided(
        padded, shape=padded.shape[:2] + (TH, TW, 4, 4),
        strides=(sN, sC, 2 * sH, 2 * sW, sH, sW))


@dispatch.register("winograd_input", "numpy")
def winograd_input_numpy(x, padding):
    """x (N, C, H, W) -> V (16, C, N*TH*TW): B^T d B of every input tile d (padding: a pair)."""
    xp = backend.get_array_module(x)
    N, C, H, W = x.shape
    (ph, pw), (_, (TH, TW)) = padding, winograd_tiles((H, W), padding)
    padded = xp.zeros((N, C, 2 * TH + 2, 2 * TW + 2), dtype=x.dtype)   # zeros past the edges too
    rows, cols = min(H, 2 * TH + 2 - ph), min(W, 2 * TW + 2 - pw)       # what reaches a tile
    padded[:, :, ph:ph + rows, pw:pw + cols] = x[:, :, :rows, :cols]
    d = _tile_view(padded, TH, TW)                                     # (N, C, TH, TW, 4r, 4s)
    b_t = xp.asarray(B_T, dtype=x.dtype)
    V = xp.einsum("ar,nctwrs,bs->abcntw", b_t, d, b_t)
    return V.reshape(16, C, N * TH * TW)


@dispatch.register("winograd_input_adjoint", "numpy")
def winograd_input_adjoint_numpy(dV, input_shape, padding):
    """dV (16, C, N*TH*TW) -> dx (N, C, H, W): B dV B^T of every tile, added where tiles overlap."""
    xp = backend.get_array_module(dV)
    N, C, H, W = input_shape
    (ph, pw), (_, (TH, TW)) = padding, winograd_tiles((H, W), padding)
    b_t = xp.asarray(B_T, dtype=dV.dtype)
    d = xp.einsum("ar,abcntw,bs->nctwrs", b_t, dV.reshape(4, 4, C, N, TH, TW), b_t)
    padded = xp.zeros((N, C, max(2 * TH + 2, ph + H), max(2 * TW + 2, pw + W)), dtype=dV.dtype)
    for r in range(4):
        for s in range(4):       # tap (r, s) of every tile: no two tiles share a pixel there
            padded[:, :, r:r + 2 * TH:2, s:s + 2 * TW:2] += d[:, :, :, :, r, s]
    return padded[:, :, ph:ph + H, pw:pw + W]


@dispatch.register("winograd_output", "numpy")
def winograd_output_numpy(M, output_shape):
    """M (16, O, N*TH*TW) -> y (N, O, OH, OW) = output_shape: A^T m A of every tile, cropped."""
    xp = backend.get_array_module(M)
    N, O, OH, OW = output_shape
    TH, TW = output_tiles((OH, OW))
    a_t = xp.asarray(A_T, dtype=M.dtype)
    y = xp.einsum("ia,abontw,jb->notiwj", a_t, M.reshape(4, 4, O, N, TH, TW), a_t)
    return y.reshape(N, O, 2 * TH, 2 * TW)[:, :, :OH, :OW]


@dispatch.register("winograd_output_adjoint", "numpy")
def winograd_output_adjoint_numpy(g):
    """g (N, O, OH, OW) -> dM (16, O, N*TH*TW): A g A^T of every 2x2 tile of g (zeros past it)."""
    xp = backend.get_array_module(g)
    N, O, OH, OW = g.shape
    TH, TW = output_tiles((OH, OW))
    padded = xp.zeros((N, O, 2 * TH, 2 * TW), dtype=g.dtype)
    padded[:, :, :OH, :OW] = g
    a_t = xp.asarray(A_T, dtype=g.dtype)
    dM = xp.einsum("ia,notiwj,jb->abontw", a_t, padded.reshape(N, O, TH, 2, TW, 2), a_t)
    return dM.reshape(16, O, N * TH * TW)


# ----- the op ----------------------------------------------------------------------
class WinogradConv2d(ConvolutionShapes, Function):
    """x (N, C, H, W), w (O, C, 3, 3), b (O,) or None -> y (N, O, OH, OW), stride 1, by
    Winograd's F(2x2, 3x3) (minicnn/functional/winograd.py).  Setting: padding (a pair).
    V, M: (16, C or O, n*T) for the n images of a chunk, T = TH*TW tiles per image."""
    settings = ("padding",)

    def forward(self, x, w, b):
        xp = backend.get_array_module(x)
        (N, C, H, W), O = x.shape, w.shape[0]
        (OH, OW), (TH, TW) = winograd_tiles((H, W), self.padding)
        T = TH * TW
        U = weight_transform(w)                                # (16, O, C)
        y = xp.empty((N, O, OH, OW), dtype=x.dtype)
        for part in image_chunks(x, 16 * (C + O) * T):
            V = dispatch.kernel("winograd_input", x)(x[part], self.padding)
            M = xp.matmul(U, V)                          # (16, O, C) @ (16, C, n*T): 16 GEMMs
            y[part] = dispatch.kernel("winograd_output", M)(M, y[part].shape)
        if b is not None:
            y += b.reshape(1, O, 1, 1)
        self.save_for_backward(x=x, w=w, U=U)    # w: the double backward's (no copy)
        return y

    def windows(self):
        return window_tables(self.input_shapes[0][2:], (3, 3), (1, 1), self.padding)

    def backward(self, g):
        xp = backend.get_array_module(g)
        x, U = self.x, self.U
        O, C = U.shape[1:]
        _, (TH, TW) = winograd_tiles(x.shape[2:], self.padding)
        T = TH * TW
        gx = xp.empty(x.shape, dtype=g.dtype) if self.needs_input_grad[0] else None
        dU = xp.zeros(U.shape, dtype=U.dtype) if self.needs_input_grad[1] else None
        for part in image_chunks(x, 16 * (C + O) * T):
            dM = dispatch.kernel("winograd_output_adjoint", g)(g[part])        # (16, O, n*T)
            if gx is not None:   # (16, C, O) @ (16, O, n*T), then back onto the overlapping tiles
                dV = xp.matmul(U.transpose(0, 2, 1), dM)
                gx[part] = dispatch.kernel("winograd_input_adjoint", dV)(dV, x[part].shape, self.padding)
                del dV           # freed before V is built: one of them in memory at a time
            if dU is not None:   # (16, O, n*T) @ (16, n*T, C)
                V = dispatch.kernel("winograd_input", x)(x[part], self.padding)
                dU += xp.matmul(dM, V.transpose(0, 2, 1))
        gw = None if dU is None else weight_transform_adjoint(dU)
        gb = g.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None
        return gx, gw, gb

    # backward_graph: conv.py's, as for any convolution (set there: this module sits below it)

