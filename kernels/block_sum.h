// block_sum: the sum of a value from every thread of a block, for the cooperative kernels
// (batch norm's per-channel sums in norm.cu, depthwise convolution's weight gradient in
// depthwise_weight.cu).  Include it after common.h (it uses SHARED).
#pragma once

// At most this many threads per block: the size of block_sum's shared array
// (minicnn/cuda/launch.py's COOPERATIVE_THREADS).
#define BLOCK_SUM_THREADS 256

// The sum of every thread's v, returned to every thread of the block.  A tree in a fixed
// order, so the result is the same in every run: at each level the first n - half threads
// add partial[t + half] into partial[t] (an odd count leaves its middle element for the
// next level), until partial[0] holds the sum.  Any blockDim.x <= BLOCK_SUM_THREADS works.
// Sums are in double: a float32 channel of a million values would lose digits.
__device__ double block_sum(double v)
{
    SHARED(double, partial, BLOCK_SUM_THREADS);
    const unsigned t = threadIdx.x;
    partial[t] = v;
    __syncthreads();                      // every part is in before any is read
    for (unsigned n = blockDim.x; n > 1;) {
        unsigned half = (n + 1) / 2;
        if (t < n - half) partial[t] += partial[t + half];
        __syncthreads();                  // this level is done before the next reads it
        n = half;
    }
    double total = partial[0];
    __syncthreads();                      // all have read partial[0] before it is written again
    return total;
}
