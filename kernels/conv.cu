// im2col / col2im: turn a convolution into one matrix product (done by cuBLAS).
//
// Column layout, the same as minicnn/functional/conv.py on the CPU, the images side by side:
//     x: (N, C, H, W)  <->  col: (C*KH*KW, N*OH*OW)
// col[(c*KH + ki)*KW + kj, (n*OH + oh)*OW + ow] = x[n, c, oh*SH - PH + ki*DH, ow*SW - PW + kj*DW]
// (zero where that position falls in the padding).
#include "common.h"

// One thread per col element: a pure copy, so no two threads touch the same output.
extern "C" __global__ void KERNEL(im2col)(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ col,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long OH, long long OW,
    long long SH, long long SW, long long PH, long long PW, long long DH, long long DW)
{
    GRID_STRIDE_LOOP(i, N * C * KH * KW * OH * OW) {
        // i = (((((c*KH + ki)*KW + kj)*N + n)*OH + oh)*OW + ow
        long long ow = i % OW, oh = (i / OW) % OH, n = (i / (OW * OH)) % N;
        long long tap = i / (OW * OH * N);                         // (c*KH + ki)*KW + kj
        long long kj = tap % KW, ki = (tap / KW) % KH, c = tap / (KW * KH);
        long long h = oh * SH - PH + ki * DH, w = ow * SW - PW + kj * DW;
        bool inside = 0 <= h && h < H && 0 <= w && w < W;
        col[i] = inside ? x[((n * C + c) * H + h) * W + w] : scalar_t(0);
    }
}

// The adjoint of im2col: every col entry flows back to the x element it was copied
// from.  Scattering col into x would need atomics (overlapping windows hit the same
// x element), so instead one thread per x element GATHERS the entries copied from it:
// for each kernel offset (ki, kj), the window (oh, ow) that would have read (h, w)
// there, if that window exists.
extern "C" __global__ void KERNEL(col2im)(
    const scalar_t* __restrict__ col, scalar_t* __restrict__ x,
    long long N, long long C, long long H, long long W,
    long long KH, long long KW, long long OH, long long OW,
    long long SH, long long SW, long long PH, long long PW, long long DH, long long DW)
{
    GRID_STRIDE_LOOP(i, N * C * H * W) {
        long long w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
        scalar_t sum = 0;
        for (long long ki = 0; ki < KH; ++ki) {
            long long th = h + PH - ki * DH;                        // = oh * SH if oh exists
            if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
            long long oh = th / SH;
            for (long long kj = 0; kj < KW; ++kj) {
                long long tw = w + PW - kj * DW;
                if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
                long long ow = tw / SW;
                sum += col[((((c * KH + ki) * KW + kj) * N + n) * OH + oh) * OW + ow];
            }
        }
        x[i] = sum;
    }
}
