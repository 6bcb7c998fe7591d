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
// Rules for every kernel (tests/test_kernels_lint.py enforces the first one):
//   * no __syncthreads, __shared__, atomics or warp intrinsics: threads never
//     cooperate, so a CPU loop over grid x block runs a kernel exactly;
//   * one thread per OUTPUT element, in a grid-stride loop (any launch size works);
//   * backward passes GATHER: each thread sums everything that flows into its
//     own element, so no two threads write the same address (no atomics, and the
//     result does not depend on thread order: it is deterministic);
//   * sizes and indices are 64-bit (long long): N*C*H*W passes 2^31 quickly.
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
