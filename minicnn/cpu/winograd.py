"""Numba fast paths for the Winograd F(2x2, 3x3) transforms (references and the math:
minicnn/functional/winograd.py).

The NumPy references go through einsum and padded copies, several passes over arrays
four times the activations' size; each loop below reads every tile once, keeps its 16
values in registers and writes its 16 results, with images' channels in parallel.  The
transforms by B^T and A^T are written out as the additions they are.
"""
import numba
import numpy as np

from .. import dispatch
from ..geometry import output_tiles, winograd_tiles


@numba.njit(inline="always")
def _at(plane, h, w):
    """plane[h, w], or 0 outside the plane (the zero padding)."""
    if 0 <= h < plane.shape[0] and 0 <= w < plane.shape[1]:
        return plane[h, w]
    return plane.dtype.type(0)


@numba.njit(inline="always")
def _b_t(d0, d1, d2, d3):
    """B^T applied to a column (or row) of 4: the additions B^T's rows spell out."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@numba.njit(inline="always")
def _b(v0, v1, v2, v3):
    """B (B^T's transpose) applied to a column (or row) of 4."""
    return v0, v1 - v2 + v3, v2 - v0 + v1, -v3


@numba.njit(cache=True, parallel=True)
def _input(x, ph, pw, TH, TW, V):
    # x: (N, C, H, W) -> V: (16, C, N*TH*TW), V[4a + b] = (B^T d B)[a, b]
    N, C = x.shape[:2]
    for nc in numba.prange(N * C):
        n, c = nc // C, nc % C
        p = x[n, c]
        for ty in range(TH):
            h = 2 * ty - ph
            for tx in range(TW):
                w = 2 * tx - pw
                t = (n * TH + ty) * TW + tx
                if 0 <= h and h + 4 <= p.shape[0] and 0 <= w and w + 4 <= p.shape[1]:
                    d = p[h:h + 4, w:w + 4]          # inside the plane: no padding to test for
                else:
                    d = np.zeros((4, 4), p.dtype)    # on the border: copy what is inside
                    for r in range(max(0, -h), min(4, p.shape[0] - h)):
                        for s in range(max(0, -w), min(4, p.shape[1] - w)):
                            d[r, s] = p[h + r, w + s]
                # B^T d, one column of the tile at a time (e_rs: row r, column s)
                e00, e10, e20, e30 = _b_t(d[0, 0], d[1, 0], d[2, 0], d[3, 0])
                e01, e11, e21, e31 = _b_t(d[0, 1], d[1, 1], d[2, 1], d[3, 1])
                e02, e12, e22, e32 = _b_t(d[0, 2], d[1, 2], d[2, 2], d[3, 2])
                e03, e13, e23, e33 = _b_t(d[0, 3], d[1, 3], d[2, 3], d[3, 3])
                # then (B^T d) B: the same additions along each row
                V[0, c, t], V[1, c, t], V[2, c, t], V[3, c, t] = _b_t(e00, e01, e02, e03)
                V[4, c, t], V[5, c, t], V[6, c, t], V[7, c, t] = _b_t(e10, e11, e12, e13)
                V[8, c, t], V[9, c, t], V[10, c, t], V[11, c, t] = _b_t(e20, e21, e22, e23)
                V[12, c, t], V[13, c, t], V[14, c, t], V[15, c, t] = _b_t(e30, e31, e32, e33)


@numba.njit(inline="always")
def _add(dx, n, c, h, w, value):
    if 0 <= h < dx.shape[2] and 0 <= w < dx.shape[3]:
        dx[n, c, h, w] += value


@numba.njit(cache=True, parallel=True)
def _input_adjoint(dV, N, H, W, ph, pw, TH, TW):
    # dV: (16, C, N*TH*TW) -> dx: (N, C, H, W), B dV B^T of every tile added in place
    C = dV.shape[1]
    dx = np.zeros((N, C, H, W), dtype=dV.dtype)
    for nc in numba.prange(N * C):    # each (image, channel) plane is written by one thread only
        n, c = nc // C, nc % C
        for ty in range(TH):
            h = 2 * ty - ph
            for tx in range(TW):
                w = 2 * tx - pw
                t = (n * TH + ty) * TW + tx
                # dV B^T, one row a of dV at a time: f_as, then B (dV B^T) column by column
                f00, f01, f02, f03 = _b(dV[0, c, t], dV[1, c, t], dV[2, c, t], dV[3, c, t])
                f10, f11, f12, f13 = _b(dV[4, c, t], dV[5, c, t], dV[6, c, t], dV[7, c, t])
                f20, f21, f22, f23 = _b(dV[8, c, t], dV[9, c, t], dV[10, c, t], dV[11, c, t])
                f30, f31, f32, f33 = _b(dV[12, c, t], dV[13, c, t], dV[14, c, t], dV[15, c, t])
                for s, (a0, a1, a2, a3) in enumerate(((f00, f10, f20, f30), (f01, f11, f21, f31),
                                                      (f02, f12, f22, f32), (f03, f13, f23, f33))):
                    r0, r1, r2, r3 = _b(a0, a1, a2, a3)
                    _add(dx, n, c, h, w + s, r0)
                    _add(dx, n, c, h + 1, w + s, r1)
                    _add(dx, n, c, h + 2, w + s, r2)
                    _add(dx, n, c, h + 3, w + s, r3)
    return dx


@numba.njit(cache=True, parallel=True)
def _output(M, N, OH, OW, TH, TW, y):
    # M: (16, O, N*TH*TW) -> y: (N, O, OH, OW), A^T m A of every tile, cropped
    O = M.shape[1]
    for no in numba.prange(N * O):
        n, o = no // O, no % O
        for ty in range(TH):
            for tx in range(TW):
                t = (n * TH + ty) * TW + tx
                # A^T m: row 0 = m0 + m1 + m2, row 1 = m1 - m2 - m3 (m_a: row a of the tile)
                u0 = M[0, o, t] + M[4, o, t] + M[8, o, t]
                u1 = M[1, o, t] + M[5, o, t] + M[9, o, t]
                u2 = M[2, o, t] + M[6, o, t] + M[10, o, t]
                u3 = M[3, o, t] + M[7, o, t] + M[11, o, t]
                v0 = M[4, o, t] - M[8, o, t] - M[12, o, t]
                v1 = M[5, o, t] - M[9, o, t] - M[13, o, t]
                v2 = M[6, o, t] - M[10, o, t] - M[14, o, t]
                v3 = M[7, o, t] - M[11, o, t] - M[15, o, t]
                h, w = 2 * ty, 2 * tx  # then (A^T m) A, the same combination of columns
                y[n, o, h, w] = u0 + u1 + u2
                if w + 1 < OW:
                    y[n, o, h, w + 1] = u1 - u2 - u3
                if h + 1 < OH:
                    y[n, o, h + 1, w] = v0 + v1 + v2
                    if w + 1 < OW:
                        y[n, o, h + 1, w + 1] = v1 - v2 - v3


@numba.njit(inline="always")
def _a(g0, g1):
    """A (A^T's transpose) applied to a column (or row) of 2."""
    return g0, g0 + g1, g0 - g1, -g1


@numba.njit(cache=True, parallel=True)
def _output_adjoint(g, TH, TW, dM):
    # g: (N, O, OH, OW) -> dM: (16, O, N*TH*TW), A g A^T of every 2x2 tile (zeros past g)
    N, O = g.shape[:2]
    for no in numba.prange(N * O):
        n, o = no // O, no % O
        p = g[n, o]
        for ty in range(TH):
            for tx in range(TW):
                t = (n * TH + ty) * TW + tx
                h, w = 2 * ty, 2 * tx
                e0, e1, e2, e3 = _a(_at(p, h, w), _at(p, h + 1, w))              # A g, column 0
                f0, f1, f2, f3 = _a(_at(p, h, w + 1), _at(p, h + 1, w + 1))      # and column 1
                dM[0, o, t], dM[1, o, t], dM[2, o, t], dM[3, o, t] = _a(e0, f0)  # (A g) A^T
                dM[4, o, t], dM[5, o, t], dM[6, o, t], dM[7, o, t] = _a(e1, f1)
                dM[8, o, t], dM[9, o, t], dM[10, o, t], dM[11, o, t] = _a(e2, f2)
                dM[12, o, t], dM[13, o, t], dM[14, o, t], dM[15, o, t] = _a(e3, f3)


@dispatch.register("winograd_input", "numba")
def winograd_input(x, padding):
    """Same arguments and result as ``winograd_input_numpy``."""
    N, C, H, W = x.shape
    _, (TH, TW) = winograd_tiles((H, W), padding)
    V = np.empty((16, C, N * TH * TW), x.dtype)
    _input(x, padding[0], padding[1], TH, TW, V)
    return V


@dispatch.register("winograd_input_adjoint", "numba")
def winograd_input_adjoint(dV, input_shape, padding):
    """Same arguments and result as ``winograd_input_adjoint_numpy``."""
    N, C, H, W = input_shape
    _, (TH, TW) = winograd_tiles((H, W), padding)
    return _input_adjoint(np.ascontiguousarray(dV), N, H, W, padding[0], padding[1], TH, TW)


@dispatch.register("winograd_output", "numba")
def winograd_output(M, output_shape):
    """Same arguments and result as ``winograd_output_numpy``."""
    N, O, OH, OW = output_shape
    y = np.empty(output_shape, M.dtype)
    _output(np.ascontiguousarray(M), N, OH, OW, *output_tiles((OH, OW)), y)
    return y


@dispatch.register("winograd_output_adjoint", "numba")
def winograd_output_adjoint(g):
    """Same arguments and result as ``winograd_output_adjoint_numpy``."""
    N, O, OH, OW = g.shape
    TH, TW = output_tiles((OH, OW))
    dM = np.empty((16, O, N * TH * TW), g.dtype)
    _output_adjoint(g, TH, TW, dM)
    return dM
