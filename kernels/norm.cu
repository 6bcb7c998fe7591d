// The elementwise halves of batch norm and local response norm.
//
// Inputs are viewed as (N, C, S) with S = H*W (S = 1 for an (N, C) input): the
// channel of flat element i is (i / S) % C.  Batch norm's per-channel sums are
// reductions, which CuPy does well; the kernels only do the per-element maths.
#include "common.h"

// ----- batch norm ------------------------------------------------------------------------
// x: (N, C, S); mean, invstd, weight, bias: (C,) -> xhat, out: (N, C, S)
//     xhat = (x - mean) * invstd        (saved for backward)
//     out  = xhat * weight + bias
extern "C" __global__ void KERNEL(batch_norm_forward)(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ mean,
    const scalar_t* __restrict__ invstd, const scalar_t* __restrict__ weight,
    const scalar_t* __restrict__ bias, scalar_t* __restrict__ xhat, scalar_t* __restrict__ out,
    long long N, long long C, long long S)
{
    GRID_STRIDE_LOOP(i, N * C * S) {
        long long c = (i / S) % C;
        scalar_t xh = (x[i] - mean[c]) * invstd[c];
        xhat[i] = xh;
        out[i] = xh * weight[c] + bias[c];
    }
}

// g, xhat: (N, C, S); scale = invstd * weight, mean_g = mean(g), mean_gxhat = mean(g * xhat)
// over (N, S) per channel: (C,) -> gx: (N, C, S)
//     gx = (g - mean_g - xhat * mean_gxhat) * scale
// The two means are the gradient's paths through the batch mean and variance; in
// evaluation mode the statistics are constants and both are zero.
extern "C" __global__ void KERNEL(batch_norm_backward)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ xhat,
    const scalar_t* __restrict__ scale, const scalar_t* __restrict__ mean_g,
    const scalar_t* __restrict__ mean_gxhat, scalar_t* __restrict__ gx,
    long long N, long long C, long long S)
{
    GRID_STRIDE_LOOP(i, N * C * S) {
        long long c = (i / S) % C;
        gx[i] = (g[i] - mean_g[c] - xhat[i] * mean_gxhat[c]) * scale[c];
    }
}

// ----- local response norm --------------------------------------------------------------
// a: (N, C, S) -> out, s: (N, C, S)
//     s_c = k + alpha/n * sum_{c' in [c - n/2, c + (n-1)/2]} a_c'^2,   out_c = a_c * s_c^-beta
// Channels outside [0, C) count as zeros; the divisor stays n (PyTorch's rule).
// alpha_n = alpha / n comes precomputed from the caller.
extern "C" __global__ void KERNEL(lrn_forward)(
    const scalar_t* __restrict__ a, scalar_t* __restrict__ out, scalar_t* __restrict__ s,
    long long N, long long C, long long S, long long size,
    scalar_t alpha_n, scalar_t beta, scalar_t k)
{
    GRID_STRIDE_LOOP(i, N * C * S) {
        long long p = i % S, c = (i / S) % C, n = i / (S * C);
        scalar_t sum = 0;
        for (long long cc = c - size / 2; cc <= c + (size - 1) / 2; ++cc) {
            if (cc < 0 || cc >= C) continue;
            scalar_t v = a[(n * C + cc) * S + p];
            sum += v * v;
        }
        scalar_t si = k + alpha_n * sum;
        s[i] = si;
        out[i] = a[i] * pow(si, -beta);
    }
}

// g, a, out, s: (N, C, S) -> ga: (N, C, S)
//     ga_j = g_j s_j^-beta - 2 alpha beta/n * a_j * sum_{c: j in window(c)} g_c out_c / s_c
// (out_c / s_c = a_c s_c^(-beta-1)).  Channel j lies in the windows of the channels
// c in [j - (n-1)/2, j + n/2]: the window with its two extents swapped.
// two_alpha_beta_n = 2 * alpha * beta / n comes precomputed from the caller.
extern "C" __global__ void KERNEL(lrn_backward)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ a,
    const scalar_t* __restrict__ out, const scalar_t* __restrict__ s, scalar_t* __restrict__ ga,
    long long N, long long C, long long S, long long size,
    scalar_t beta, scalar_t two_alpha_beta_n)
{
    GRID_STRIDE_LOOP(i, N * C * S) {
        long long p = i % S, j = (i / S) % C, n = i / (S * C);
        scalar_t cross = 0;
        for (long long c = j - (size - 1) / 2; c <= j + size / 2; ++c) {
            if (c < 0 || c >= C) continue;
            long long o = (n * C + c) * S + p;
            cross += g[o] * out[o] / s[o];
        }
        ga[i] = g[i] * pow(s[i], -beta) - two_alpha_beta_n * a[i] * cross;
    }
}
