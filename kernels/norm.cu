// Batch norm (its per-channel sums and its per-element maths) and local response norm.
//
// Inputs are viewed as (N, C, S) with S = H*W (S = 1 for an (N, C) input): the
// channel of flat element i is (i / S) % C.  Batch norm's per-channel sums are
// cooperative kernels: one block per channel, whose threads share the channel's
// N*S values and add their partial sums in shared memory (block_sum).  The other
// kernels are one thread per element.
#include "common.h"
#include "block_sum.h"

// ----- batch norm: per-channel sums (block_sum: kernels/block_sum.h) ------------------------
// The flat index of value j of channel c in an (N, C, S) array, j in [0, N*S).
__device__ __forceinline__ long long channel_element(long long j, long long c, long long C,
                                                     long long S)
{
    return (j / S * C + c) * S + j % S;
}

// x: (N, C, S), N*S > 0 -> mean, var: (C,), var biased (1/(N*S)).
// One block per channel, in two passes over its N*S values: the mean, then the squared
// deviations from it.  (One pass, E[x^2] - E[x]^2, cancels when the mean is large next to
// the spread: around 1e4 with spread 1, even a double keeps only about 8 of its 16 digits.)
extern "C" __global__ void KERNEL(batch_norm_stats)(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ mean, scalar_t* __restrict__ var,
    long long N, long long C, long long S)
{
    const long long M = N * S;            // values per channel; thread t takes t, t + T, ...
    BLOCK_STRIDE_LOOP(c, C) {
        double sum = 0;
        for (long long j = threadIdx.x; j < M; j += blockDim.x)
            sum += x[channel_element(j, c, C, S)];
        const double mu = block_sum(sum) / M;
        double squares = 0;
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            double d = x[channel_element(j, c, C, S)] - mu;
            squares += d * d;
        }
        const double sigma2 = block_sum(squares) / M;
        if (threadIdx.x == 0) {
            mean[c] = (scalar_t)mu;
            var[c] = (scalar_t)sigma2;
        }
    }
}

// g, xhat: (N, C, S) -> sum_g, sum_gxhat: (C,), the sums of g and g * xhat over (N, S)
// per channel (the bias and weight gradients).  One block per channel; N*S may be 0
// (an empty batch): the sums are 0 then.
extern "C" __global__ void KERNEL(batch_norm_backward_sums)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ xhat,
    scalar_t* __restrict__ sum_g, scalar_t* __restrict__ sum_gxhat,
    long long N, long long C, long long S)
{
    const long long M = N * S;
    BLOCK_STRIDE_LOOP(c, C) {
        double part_g = 0, part_gxhat = 0;
        for (long long j = threadIdx.x; j < M; j += blockDim.x) {
            long long i = channel_element(j, c, C, S);
            part_g += g[i];
            part_gxhat += (double)g[i] * xhat[i];
        }
        const double total_g = block_sum(part_g);
        const double total_gxhat = block_sum(part_gxhat);
        if (threadIdx.x == 0) {
            sum_g[c] = (scalar_t)total_g;
            sum_gxhat[c] = (scalar_t)total_gxhat;
        }
    }
}

// ----- batch norm: per-element maths -----------------------------------------------------
// x: (N, C, S); mean, invstd, weight, bias: (C,) -> out: (N, C, S)
//     xhat = (x - mean) * invstd
//     out  = xhat * weight + bias
// (backward recomputes xhat with this kernel, weight 1 and bias 0: nothing is saved)
extern "C" __global__ void KERNEL(batch_norm_forward)(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ mean,
    const scalar_t* __restrict__ invstd, const scalar_t* __restrict__ weight,
    const scalar_t* __restrict__ bias, scalar_t* __restrict__ out,
    long long N, long long C, long long S)
{
    GRID_STRIDE_LOOP(i, N * C * S) {
        long long c = (i / S) % C;
        scalar_t xhat = (x[i] - mean[c]) * invstd[c];
        out[i] = xhat * weight[c] + bias[c];
    }
}

// g, xhat: (N, C, S); scale = invstd * weight, mean_g = mean(g), mean_gxhat = mean(g * xhat)
// over (N, S) per channel: (C,) -> gx: (N, C, S)
//     training:  gx = (g - mean_g - xhat * mean_gxhat) * scale
//     eval:      gx = g * scale
// The two means are the gradient's paths through the batch mean and variance; in
// evaluation mode the statistics are constants and those paths do not exist (not
// "are zero": a NaN in xhat times a zero mean would still be NaN).
extern "C" __global__ void KERNEL(batch_norm_backward)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ xhat,
    const scalar_t* __restrict__ scale, const scalar_t* __restrict__ mean_g,
    const scalar_t* __restrict__ mean_gxhat, scalar_t* __restrict__ gx,
    long long N, long long C, long long S, long long training)
{
    GRID_STRIDE_LOOP(i, N * C * S) {
        long long c = (i / S) % C;
        scalar_t d = g[i];
        if (training) d = d - mean_g[c] - xhat[i] * mean_gxhat[c];
        gx[i] = d * scale[c];
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
