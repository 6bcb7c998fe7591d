// Shared by every kernel file in kernels/.
//
// Each .cu file is compiled twice, once per floating-point type:
//     -Dscalar_t=float  -DDTYPE_SUFFIX=f32
//     -Dscalar_t=double -DDTYPE_SUFFIX=f64
// so one written kernel gives two C entry points: KERNEL(relu_forward) names
// relu_forward_f32 in the float build and relu_forward_f64 in the double build.
// (minicnn/cuda/loader.py passes those options; it also pastes this file in
// place of the #include, so CuPy's compile cache sees every byte of the source.)
//
// Rules for every kernel (tests/cuda/test_kernels_lint.py enforces the first one, and the
// SHARED macro below):
//   * no atomics, warp intrinsics (__shfl*, __ballot*, warpSize, ...), fences or
//     inline PTX: the result must not depend on which thread gets there first, so
//     every run gives the same bits, and the CPU emulation can run it exactly;
//   * one thread per OUTPUT element, in a grid-stride loop (any launch size works)
//     -- or, in a cooperative kernel, one block per output row or tile (below);
//   * backward passes GATHER: each thread sums everything that flows into its
//     own element, so no two threads write the same address (no atomics, and the
//     result does not depend on thread order: it is deterministic);
//   * sizes and indices are 64-bit (long long): N*C*H*W passes 2^31 quickly.
//
// COOPERATIVE kernels (a block reduction, a tile of an implicit GEMM) may share work
// between the threads of ONE block -- never between blocks:
//   * block memory is declared with SHARED(type, name, n) at the top of the kernel
//     (never __shared__ directly): a fixed-size 1-D array, uninitialised, one per
//     block; 2-D tiles are indexed by hand, tile[r * TILE + c];
//   * a __syncthreads() separates every write of a SHARED element from any read or
//     write of it by another thread; every thread of the block reaches every
//     __syncthreads() (no early return before one; loop counts the same for all);
//   * sums over the block go in a fixed tree order (no atomics), so they stay
//     deterministic; one block per output row or tile, in a BLOCK_STRIDE_LOOP.
// kernels/cuda_emulation.h runs such a block's threads together on the CPU, and its
// checked mode fails on a missing __syncthreads (see docs/gpu.md).
#pragma once

#ifndef scalar_t
#error "compile with -Dscalar_t=float -DDTYPE_SUFFIX=f32 (or double / f64)"
#endif

#define MINICNN_CAT_(a, b) a##_##b
#define MINICNN_CAT(a, b) MINICNN_CAT_(a, b)
#define KERNEL(name) MINICNN_CAT(name, DTYPE_SUFFIX)

// i visits i0, i0 + T, i0 + 2T, ... below n, where i0 is this thread's global id
// and T the number of threads in the whole grid.  Together the threads cover
// [0, n) exactly once, whatever the grid and block sizes.
#define GRID_STRIDE_LOOP(i, n)                                                  \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;      \
         i < (n); i += (long long)blockDim.x * gridDim.x)

// NVRTC (CuPy's run-time compiler) has no <math.h>, hence no INFINITY macro.
#define MINICNN_INFINITY ((scalar_t)(1.0 / 0.0))

// b visits blockIdx.x, blockIdx.x + gridDim.x, ... below n: one block per item (a row
// to reduce, a tile to compute), whatever the grid size.  Every thread of a block runs
// the same iterations, so a __syncthreads() inside the loop is reached by all.
#define BLOCK_STRIDE_LOOP(b, n)                                                 \
    for (long long b = blockIdx.x; b < (n); b += gridDim.x)

// SHARED(float, tile, 256) declares `tile`, an array of 256 floats shared by the
// threads of a block.  On the GPU that is __shared__ float tile[256]; the CPU
// emulation (kernels/cuda_emulation.h) defines SHARED itself, as the block's own
// storage, which its checked mode watches for missing __syncthreads.
#ifndef MINICNN_CUDA_EMULATION
#define SHARED(type, name, n) __shared__ type name[n]
#endif
