// Block reductions for tests/cuda/test_kernels_harness.py (not part of minicnn): a correct
// one, and the bugs of cooperative kernels that the CPU emulation's checked mode must
// catch (the test adds one more: row_sum with its barrier between levels deleted).  Each kernel sums the rows of x: (rows, len) -> out: (rows,), one block per
// row; blockDim.x must be a power of two, at most 256.
#include "common.h"

#define ROW_KERNEL(name)                                                         \
    extern "C" __global__ void KERNEL(name)(const scalar_t* __restrict__ x,     \
        scalar_t* __restrict__ out, long long rows, long long len)

// Correct: each thread sums a strided part of the row into partial[t], then the block
// halves the partial sums, level by level, with a barrier after each level.
ROW_KERNEL(row_sum)
{
    SHARED(scalar_t, partial, 256);
    const unsigned t = threadIdx.x;
    BLOCK_STRIDE_LOOP(row, rows) {
        scalar_t sum = 0;
        for (long long j = t; j < len; j += blockDim.x) sum += x[row * len + j];
        partial[t] = sum;
        __syncthreads();                  // every part is in before any is read
        for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
            if (t < half) partial[t] += partial[t + half];
            __syncthreads();              // this level is done before the next reads it
        }
        if (t == 0) out[row] = partial[0];
    }   // (no barrier needed here: only thread 0 reads partial[0], and only it rewrites it)
}

// Bug: a race in one phase -- thread 1 reads what thread 0 stored, with no barrier
// between the write and the read.
ROW_KERNEL(read_without_barrier)
{
    SHARED(scalar_t, partial, 256);
    BLOCK_STRIDE_LOOP(row, rows) {
        partial[threadIdx.x] = x[row * len + threadIdx.x % len];
        if (threadIdx.x == 1) out[row] = partial[0];
        __syncthreads();
    }
}

// Bug: two threads write the same SHARED element in one phase.
ROW_KERNEL(two_writers)
{
    SHARED(scalar_t, partial, 256);
    const unsigned t = threadIdx.x;
    BLOCK_STRIDE_LOOP(row, rows) {
        partial[t / 2] = t < len ? x[row * len + t] : scalar_t(0);
        __syncthreads();
        if (t == 0) out[row] = partial[0];
        __syncthreads();
    }
}

// Bug: threads past the row's end return early, so the others wait at a barrier
// that those threads never reach (a hang, or worse, on a GPU).
ROW_KERNEL(early_return)
{
    SHARED(scalar_t, partial, 256);
    const unsigned t = threadIdx.x;
    if (t >= len) return;
    BLOCK_STRIDE_LOOP(row, rows) {
        partial[t] = x[row * len + t];
        __syncthreads();
        if (t == 0) out[row] = partial[len - 1];
        __syncthreads();
    }
}

// Bug: every thread of the block writes out[row] in the same phase (global memory).
ROW_KERNEL(all_threads_write_out)
{
    BLOCK_STRIDE_LOOP(row, rows) {
        out[row] = x[row * len + threadIdx.x % len];
        __syncthreads();
    }
}

// Bug: every block writes out[0]; blocks never synchronise, so that is a race.
ROW_KERNEL(all_blocks_write_out0)
{
    BLOCK_STRIDE_LOOP(row, rows) {
        if (threadIdx.x == 0) out[0] = x[row * len];
        __syncthreads();
    }
}

// Bug: odd and even threads wait at two different barriers.
ROW_KERNEL(two_barriers)
{
    BLOCK_STRIDE_LOOP(row, rows) {
        if (threadIdx.x % 2) __syncthreads();
        else __syncthreads();
        if (threadIdx.x == 0) out[row] = x[row * len];
    }
}
