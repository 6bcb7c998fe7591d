// Pooling over a stack of planes x: (B, H, W), B = N*C, forward and backward.
//
// The windows come as tables, one per axis, built on the host by
// minicnn/functional/pool.py (the same tables the CPU code uses): output row oh
// pools the input rows
//     r_start[oh], r_start[oh] + r_step, ... < r_stop[oh]
// and output column ow likewise.  Taps in the padding are already left out, and
// every rule of PyTorch's (ceil mode, dilation, adaptive bins) lives in the tables,
// so these few kernels serve max_pool2d, avg_pool2d and both adaptive pools.
//
// Forward: one thread per output element reads its window.
// Backward: one thread per INPUT element gathers from every window that holds it.
// Windows overlap, so a scatter from the outputs would need atomics; the gather
// writes each element once.  The windows holding input row h all lie in
// oh in [r_lo[h], r_hi[h]) (inverse tables, also built on the host).
#include "common.h"

// x: (B, H, W) -> out, argmax: (B, OH, OW).  argmax is the position h*W + w of the
// maximum in its plane.  Padding is -inf (it is not in the window), a NaN wins (as in
// PyTorch), and if nothing beats -inf the answer is the window's first tap.
extern "C" __global__ void KERNEL(max_pool_forward)(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ out, long long* __restrict__ argmax,
    const long long* __restrict__ r_start, const long long* __restrict__ r_stop,
    const long long* __restrict__ c_start, const long long* __restrict__ c_stop,
    long long B, long long H, long long W, long long OH, long long OW,
    long long r_step, long long c_step)
{
    GRID_STRIDE_LOOP(i, B * OH * OW) {
        long long ow = i % OW, oh = (i / OW) % OH, b = i / (OW * OH);
        const scalar_t* plane = x + b * H * W;
        scalar_t best = -MINICNN_INFINITY;
        long long best_at = r_start[oh] * W + c_start[ow];
        for (long long h = r_start[oh]; h < r_stop[oh]; h += r_step) {
            for (long long w = c_start[ow]; w < c_stop[ow]; w += c_step) {
                scalar_t v = plane[h * W + w];
                if (v > best || isnan(v)) { best = v; best_at = h * W + w; }
            }
        }
        out[i] = best;
        argmax[i] = best_at;
    }
}

// g, argmax: (B, OH, OW) -> grad: (B, H, W).  Input (h, w) receives the gradient of
// every window whose maximum it was.
extern "C" __global__ void KERNEL(max_pool_backward)(
    const scalar_t* __restrict__ g, const long long* __restrict__ argmax,
    scalar_t* __restrict__ grad,
    const long long* __restrict__ r_lo, const long long* __restrict__ r_hi,
    const long long* __restrict__ c_lo, const long long* __restrict__ c_hi,
    long long B, long long H, long long W, long long OH, long long OW)
{
    GRID_STRIDE_LOOP(i, B * H * W) {
        long long w = i % W, h = (i / W) % H, b = i / (W * H);
        scalar_t sum = 0;
        for (long long oh = r_lo[h]; oh < r_hi[h]; ++oh) {
            for (long long ow = c_lo[w]; ow < c_hi[w]; ++ow) {
                long long o = (b * OH + oh) * OW + ow;
                if (argmax[o] == h * W + w) sum += g[o];
            }
        }
        grad[i] = sum;
    }
}

// x: (B, H, W) -> out: (B, OH, OW) = window sum / divisor[oh, ow].  Average pools
// have no dilation: each window is a full rectangle of the input.
extern "C" __global__ void KERNEL(avg_pool_forward)(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ divisor,
    scalar_t* __restrict__ out,
    const long long* __restrict__ r_start, const long long* __restrict__ r_stop,
    const long long* __restrict__ c_start, const long long* __restrict__ c_stop,
    long long B, long long H, long long W, long long OH, long long OW)
{
    GRID_STRIDE_LOOP(i, B * OH * OW) {
        long long ow = i % OW, oh = (i / OW) % OH, b = i / (OW * OH);
        const scalar_t* plane = x + b * H * W;
        scalar_t sum = 0;
        for (long long h = r_start[oh]; h < r_stop[oh]; ++h)
            for (long long w = c_start[ow]; w < c_stop[ow]; ++w) sum += plane[h * W + w];
        out[i] = sum / divisor[oh * OW + ow];
    }
}

// g: (B, OH, OW) -> grad: (B, H, W).  Each window shares g / divisor among its inputs.
extern "C" __global__ void KERNEL(avg_pool_backward)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ divisor,
    scalar_t* __restrict__ grad,
    const long long* __restrict__ r_start, const long long* __restrict__ r_stop,
    const long long* __restrict__ c_start, const long long* __restrict__ c_stop,
    const long long* __restrict__ r_lo, const long long* __restrict__ r_hi,
    const long long* __restrict__ c_lo, const long long* __restrict__ c_hi,
    long long B, long long H, long long W, long long OH, long long OW)
{
    GRID_STRIDE_LOOP(i, B * H * W) {
        long long w = i % W, h = (i / W) % H, b = i / (W * H);
        scalar_t sum = 0;
        for (long long oh = r_lo[h]; oh < r_hi[h]; ++oh) {
            if (h < r_start[oh] || h >= r_stop[oh]) continue;     // a gap between windows
            for (long long ow = c_lo[w]; ow < c_hi[w]; ++ow) {
                if (w < c_start[ow] || w >= c_stop[ow]) continue;
                long long o = oh * OW + ow;
                sum += g[b * OH * OW + o] / divisor[o];
            }
        }
        grad[i] = sum;
    }
}
