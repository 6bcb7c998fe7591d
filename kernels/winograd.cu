// Winograd F(2x2, 3x3): the four transforms of activations (the math and the NumPy
// references: minicnn/functional/winograd.py).  The 16 GEMMs between them are cuBLAS's.
//
// Layout, as on the CPU: tile t = (n*TH + ty)*TW + tx, T = N*TH*TW tiles in all;
//     V, dV: (16, C, T)   M, dM: (16, O, T)   position k = 4a + b of the 4x4 tile
// Tile (ty, tx) reads input rows 2ty - PH .. 2ty - PH + 3 (zero outside the input) and
// writes output rows 2ty, 2ty + 1 (dropped past OH); likewise columns.
#include "common.h"

// The transform matrices: only 0 and +-1.
__device__ const int B_T[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
__device__ const int A_T[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

// x -> V[ab] = sum_rs B_T[a][r] d[r][s] B_T[b][s], d the tile: one thread per V element.
extern "C" __global__ void KERNEL(winograd_input)(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ V,
    long long N, long long C, long long H, long long W, long long PH, long long PW,
    long long TH, long long TW)
{
    long long T = N * TH * TW;
    GRID_STRIDE_LOOP(i, 16 * C * T) {
        long long t = i % T, c = (i / T) % C, k = i / (T * C);
        long long a = k / 4, b = k % 4, tx = t % TW, ty = (t / TW) % TH, n = t / (TW * TH);
        scalar_t sum = 0;
        for (int r = 0; r < 4; ++r) {
            long long h = 2 * ty - PH + r;
            if (B_T[a][r] == 0 || h < 0 || h >= H) continue;
            for (int s = 0; s < 4; ++s) {
                long long w = 2 * tx - PW + s;
                if (B_T[b][s] == 0 || w < 0 || w >= W) continue;
                sum += scalar_t(B_T[a][r] * B_T[b][s]) * x[((n * C + c) * H + h) * W + w];
            }
        }
        V[i] = sum;
    }
}

// dV -> dx: each input pixel GATHERS B dV B^T from the (at most 2x2) tiles that read it:
// tile ty reads row h at r = h + PH - 2ty, so 0 <= r < 4.  One thread per dx element.
extern "C" __global__ void KERNEL(winograd_input_adjoint)(
    const scalar_t* __restrict__ dV, scalar_t* __restrict__ dx,
    long long N, long long C, long long H, long long W, long long PH, long long PW,
    long long TH, long long TW)
{
    long long T = N * TH * TW;
    GRID_STRIDE_LOOP(i, N * C * H * W) {
        long long w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
        scalar_t sum = 0;
        for (long long ty = (h + PH) / 2 - 1; ty <= (h + PH) / 2; ++ty) {
            long long r = h + PH - 2 * ty;
            if (ty < 0 || ty >= TH || r > 3) continue;
            for (long long tx = (w + PW) / 2 - 1; tx <= (w + PW) / 2; ++tx) {
                long long s = w + PW - 2 * tx;
                if (tx < 0 || tx >= TW || s > 3) continue;
                long long t = (n * TH + ty) * TW + tx;
                for (int a = 0; a < 4; ++a) {
                    if (B_T[a][r] == 0) continue;
                    for (int b = 0; b < 4; ++b) {
                        if (B_T[b][s] == 0) continue;
                        sum += scalar_t(B_T[a][r] * B_T[b][s]) * dV[((a * 4 + b) * C + c) * T + t];
                    }
                }
            }
        }
        dx[i] = sum;
    }
}

// M -> y[2ty + i][2tx + j] = sum_ab A_T[i][a] m[a][b] A_T[j][b]: one thread per y element.
extern "C" __global__ void KERNEL(winograd_output)(
    const scalar_t* __restrict__ M, scalar_t* __restrict__ y,
    long long N, long long O, long long OH, long long OW, long long TH, long long TW)
{
    long long T = N * TH * TW;
    GRID_STRIDE_LOOP(e, N * O * OH * OW) {
        long long w = e % OW, h = (e / OW) % OH, o = (e / (OW * OH)) % O, n = e / (OW * OH * O);
        long long t = (n * TH + h / 2) * TW + w / 2;
        int i = h % 2, j = w % 2;
        scalar_t sum = 0;
        for (int a = 0; a < 4; ++a) {
            if (A_T[i][a] == 0) continue;
            for (int b = 0; b < 4; ++b)
                if (A_T[j][b] != 0)
                    sum += scalar_t(A_T[i][a] * A_T[j][b]) * M[((a * 4 + b) * O + o) * T + t];
        }
        y[e] = sum;
    }
}

// g -> dM[ab] = sum_ij A_T[i][a] g[2ty + i][2tx + j] A_T[j][b] (zero past OH, OW):
// one thread per dM element.
extern "C" __global__ void KERNEL(winograd_output_adjoint)(
    const scalar_t* __restrict__ g, scalar_t* __restrict__ dM,
    long long N, long long O, long long OH, long long OW, long long TH, long long TW)
{
    long long T = N * TH * TW;
    GRID_STRIDE_LOOP(e, 16 * O * T) {
        long long t = e % T, o = (e / T) % O, k = e / (T * O);
        long long a = k / 4, b = k % 4, tx = t % TW, ty = (t / TW) % TH, n = t / (TW * TH);
        scalar_t sum = 0;
        for (int i = 0; i < 2; ++i) {
            long long h = 2 * ty + i;
            if (A_T[i][a] == 0 || h >= OH) continue;
            for (int j = 0; j < 2; ++j) {
                long long w = 2 * tx + j;
                if (A_T[j][b] != 0 && w < OW)
                    sum += scalar_t(A_T[i][a] * A_T[j][b]) * g[((n * O + o) * OH + h) * OW + w];
            }
        }
        dM[e] = sum;
    }
}
