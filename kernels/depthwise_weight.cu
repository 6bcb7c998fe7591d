// Depthwise convolution's weight gradient (the rest is depthwise.cu, whose comment gives
// the shapes): gw[o, 0, ki, kj] sums, over the N*OH*OW windows (n, oh, ow), g[n, o, oh, ow]
// times the pixel tap (ki, kj) of that window read (zero on the padding).
//
// A cooperative kernel: one block per weight element, whose threads share its N*OH*OW
// products -- thread t takes t, t + blockDim.x, ... -- summing in double, and block_sum
// adds their parts in a fixed order (no atomics: the same bits every run).  One thread per
// weight element would leave most of the GPU idle (a 3x3 layer of 32 channels has 288).
#include "common.h"
#include "block_sum.h"

extern "C" __global__ void KERNEL(depthwise_backward_weight)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ x, scalar_t* __restrict__ gw,
    long long N, long long C, long long H, long long W, long long O, long long KH, long long KW,
    long long OH, long long OW,
    long long SH, long long SW, long long PH, long long PW, long long DH, long long DW)
{
    const long long L = OH * OW, M = O / C;
    BLOCK_STRIDE_LOOP(e, O * KH * KW) {                   // e = (o*KH + ki)*KW + kj
        long long kj = e % KW, ki = (e / KW) % KH, o = e / (KW * KH);
        double part = 0;
        for (long long j = threadIdx.x; j < N * L; j += blockDim.x) {     // j = n*L + oh*OW + ow
            long long n = j / L, oh = (j % L) / OW, ow = j % OW;
            long long h = oh * SH - PH + ki * DH, c = ow * SW - PW + kj * DW;
            bool inside = 0 <= h && h < H && 0 <= c && c < W;
            double pixel = inside ? (double)x[((n * C + o / M) * H + h) * W + c] : 0.0;
            part += (double)g[(n * O + o) * L + j % L] * pixel;
        }
        const double total = block_sum(part);
        if (threadIdx.x == 0) gw[e] = (scalar_t)total;
    }
}
