// CUDA on the CPU, for testing: compile a kernel file with
//     g++ -std=c++17 -O2 -shared -fPIC -include cuda_emulation.h -Dscalar_t=float ...
// and a kernel becomes an ordinary C++ function.  The "launch" below calls it once
// per (block, thread) of the grid, one after another, with blockIdx/threadIdx set.
//
// That is exact for minicnn's kernels because their threads never cooperate: no
// shared memory, no barriers, no atomics, no warp intrinsics (a lint test checks).
// Each thread reads its inputs and writes only its own outputs, so the order in
// which threads run cannot change the result.  (minicnn/cuda/emulation.py can also
// run each thread alone on a private copy of the arrays to prove that no two
// threads write the same element.)
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

// ----- the built-ins a kernel sees --------------------------------------------
struct dim3 { unsigned x = 1, y = 1, z = 1; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline

// CUDA's device maths overloads float and double under the C names.
using std::ceil; using std::exp; using std::fabs; using std::floor; using std::isinf;
using std::isnan; using std::log; using std::pow; using std::sqrt;
template <typename T> inline T max(T a, T b) { return a > b ? a : b; }
template <typename T> inline T min(T a, T b) { return a < b ? a : b; }

namespace emu {

// ----- a letter per argument type, so Python can check what it passes ----------
template <typename T> constexpr char type_code() {
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_same_v<U, float>) return 'f';
    else if constexpr (std::is_same_v<U, double>) return 'd';
    else if constexpr (std::is_same_v<U, long long>) return 'q';
    else if constexpr (std::is_same_v<U, int>) return 'i';
    else if constexpr (std::is_same_v<U, bool>) return '?';
    else if constexpr (std::is_same_v<U, unsigned char>) return 'B';
    else static_assert(sizeof(T) == 0, "kernel argument type not supported by the emulation");
}

// "*f q q *f " for kernel(const float*, long long, long long, float*)
template <typename... A> const char* signature(void (*)(A...)) {
    static char text[3 * sizeof...(A) + 1];
    char* p = text;
    ((std::is_pointer_v<A> ? (void)(*p++ = '*') : (void)0,
      *p++ = type_code<std::remove_pointer_t<A>>(), *p++ = ' '), ...);
    *p = 0;
    return text;
}

// ----- the launch --------------------------------------------------------------
// params[i] points at the value of argument i, as in the CUDA driver's cuLaunchKernel.
template <typename... A, std::size_t... I>
void call(void (*kernel)(A...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}

inline void set_thread(long long t) {       // t: global thread number, x fastest
    long long per_block = (long long)blockDim.x * blockDim.y * blockDim.z;
    long long b = t / per_block, r = t % per_block;
    threadIdx.x = r % blockDim.x; threadIdx.y = (r / blockDim.x) % blockDim.y;
    threadIdx.z = r / ((long long)blockDim.x * blockDim.y);
    blockIdx.x = b % gridDim.x; blockIdx.y = (b / gridDim.x) % gridDim.y;
    blockIdx.z = b / ((long long)gridDim.x * gridDim.y);
}

// Run every thread of the grid in turn, or only thread `only` when only >= 0.
template <typename... A>
void launch(void (*kernel)(A...), const unsigned* grid, const unsigned* block,
            void** params, long long only) {
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {block[0], block[1], block[2]};
    long long threads = (long long)grid[0] * grid[1] * grid[2] * block[0] * block[1] * block[2];
    for (long long t = only < 0 ? 0 : only; t < (only < 0 ? threads : only + 1); ++t) {
        set_thread(t);
        call(kernel, params, std::index_sequence_for<A...>{});
    }
}

}  // namespace emu

// minicnn/cuda/emulation.py appends one EMU_EXPORT(name) per kernel: two C functions
// that ctypes can find by name.
#define EMU_EXPORT(name)                                                                   \
    extern "C" void emu_launch_##name(const unsigned* grid, const unsigned* block,         \
                                      void** params, long long only) {                     \
        emu::launch(name, grid, block, params, only);                                      \
    }                                                                                      \
    extern "C" const char* emu_signature_##name() { return emu::signature(name); }
