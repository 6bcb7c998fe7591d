// Depthwise convolution (groups == C_in): the forward pass and the input gradient, one
// thread per output element.  The weight gradient, a reduction, is depthwise_weight.cu.
//
// x: (N, C, H, W); w: (O, 1, KH, KW) with O = C*M (M filters per channel, the channel
// multiplier); y, g: (N, O, OH, OW).  Output channel o reads input channel o / M only:
//     y[n, o, oh, ow] = sum over (ki, kj) of
//                       w[o, 0, ki, kj] * x[n, o / M, oh*SH - PH + ki*DH, ow*SW - PW + kj*DW]
// (zero where that position falls in the padding).  The same numbers as the CPU's
// minicnn/functional/depthwise.py, whose references add the taps in the same order.
#include "common.h"

// One thread per y element: its window's KH*KW taps.  A tap on the padding multiplies a
// zero (not skipped), as the CPU does: a NaN or infinite weight gives NaN there too.
extern "C" __global__ void KERNEL(depthwise_forward)(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ w, scalar_t* __restrict__ y,
    long long N, long long C, long long H, long long W, long long O, long long KH, long long KW,
    long long OH, long long OW,
    long long SH, long long SW, long long PH, long long PW, long long DH, long long DW)
{
    GRID_STRIDE_LOOP(i, N * O * OH * OW) {
        long long ow = i % OW, oh = (i / OW) % OH, o = (i / (OW * OH)) % O, n = i / (OW * OH * O);
        const scalar_t* plane = x + (n * C + o / (O / C)) * H * W;
        const scalar_t* taps = w + o * KH * KW;
        scalar_t sum = 0;
        for (long long ki = 0; ki < KH; ++ki) {
            long long h = oh * SH - PH + ki * DH;
            for (long long kj = 0; kj < KW; ++kj) {
                long long c = ow * SW - PW + kj * DW;
                bool inside = 0 <= h && h < H && 0 <= c && c < W;
                sum += taps[ki * KW + kj] * (inside ? plane[h * W + c] : scalar_t(0));
            }
        }
        y[i] = sum;
    }
}

// One thread per gx element (h, w) of channel c: it GATHERS what flows into it (no two
// threads write one element).  Tap (ki, kj) of window (oh, ow) read row
// h = oh*SH - PH + ki*DH, so for each tap the window is oh = (h + PH - ki*DH) / SH, where
// that divides exactly and lies in [0, OH) (columns likewise); each of c's M filters sends.
extern "C" __global__ void KERNEL(depthwise_backward_input)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ w, scalar_t* __restrict__ gx,
    long long N, long long C, long long H, long long W, long long O, long long KH, long long KW,
    long long OH, long long OW,
    long long SH, long long SW, long long PH, long long PW, long long DH, long long DW)
{
    GRID_STRIDE_LOOP(i, N * C * H * W) {
        long long x_w = i % W, h = (i / W) % H, c = (i / (W * H)) % C, n = i / (W * H * C);
        long long M = O / C;
        scalar_t sum = 0;
        for (long long o = c * M; o < c * M + M; ++o) {
            const scalar_t* grad = g + (n * O + o) * OH * OW;
            for (long long ki = 0; ki < KH; ++ki) {
                long long th = h + PH - ki * DH;                    // = oh * SH if oh exists
                if (th < 0 || th % SH != 0 || th / SH >= OH) continue;
                for (long long kj = 0; kj < KW; ++kj) {
                    long long tw = x_w + PW - kj * DW;
                    if (tw < 0 || tw % SW != 0 || tw / SW >= OW) continue;
                    sum += w[(o * KH + ki) * KW + kj] * grad[(th / SH) * OW + tw / SW];
                }
            }
        }
        gx[i] = sum;
    }
}
