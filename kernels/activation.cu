// ReLU and dropout's masked scaling: one thread per element, nothing shared.
#include "common.h"

// x -> out = max(x, 0); a NaN stays NaN, as in PyTorch.
extern "C" __global__ void KERNEL(relu_forward)(
    const scalar_t* __restrict__ x, scalar_t* __restrict__ out, long long n)
{
    GRID_STRIDE_LOOP(i, n) {
        scalar_t v = x[i];
        out[i] = (v > 0 || isnan(v)) ? v : scalar_t(0);
    }
}

// g, out -> gx = 0 where the unit was off (out <= 0), else g: a NaN output passes the
// gradient on, as PyTorch's threshold_backward does (out > 0 ? g : 0 would stop it).
extern "C" __global__ void KERNEL(relu_backward)(
    const scalar_t* __restrict__ g, const scalar_t* __restrict__ out,
    scalar_t* __restrict__ gx, long long n)
{
    GRID_STRIDE_LOOP(i, n) gx[i] = out[i] <= 0 ? scalar_t(0) : g[i];
}

// Dropout, forward and backward alike: out = x * mask, where mask holds 0 (dropped) or
// 1/(1-p) (kept).  mask has one value per `inner` consecutive elements of x: inner = 1
// for dropout, H*W for dropout2d (one draw per channel, broadcast over the plane).
extern "C" __global__ void KERNEL(masked_scale)(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ mask,
    scalar_t* __restrict__ out, long long n, long long inner)
{
    GRID_STRIDE_LOOP(i, n) out[i] = x[i] * mask[i / inner];
}
