// CUDA on the CPU, for testing: compile a kernel file with
//     g++ -std=c++17 -O2 -shared -fPIC -include cuda_emulation.h -Dscalar_t=float ...
// and a kernel becomes an ordinary C++ function.  minicnn/cuda/emulation.py launches it
// in one of two ways, chosen per file from its source:
//
//  * INDEPENDENT THREADS (a file with no __syncthreads and no SHARED; the fast path):
//    the launch calls the kernel once per (block, thread), one after another.  That is
//    exact because such threads never see each other's work: each reads its inputs and
//    writes only its own outputs, so their order cannot change the result.
//
//  * COOPERATIVE BLOCKS (compiled with -DEMU_COOPERATIVE=1): blocks run one after
//    another; the threads of a block run together, as fibers (ucontext: one stack per
//    thread, all on one OS thread).  Thread 0 runs until it reaches __syncthreads() or
//    returns, then thread 1, and so on; once every thread waits at the barrier the next
//    PHASE starts the same way (phase p: after the block's p-th __syncthreads()).
//    SHARED arrays belong to the block: its threads get the same storage, fresh (NaN
//    bytes, like garbage) for every block.  Fibers rather than one std::thread per CUDA
//    thread: the order is fixed, so every run is reproducible; a racy kernel gives a
//    wrong answer instead of undefined behaviour in the test process; 256 fibers are
//    cheap to switch between.
//
// Checked mode (emulation.py, checked=True) also records, for every SHARED element, which
// thread wrote and which threads read it in the current phase, and stops at what a GPU
// would race on: a read of an element that ANOTHER thread wrote in the same phase, a
// write of one that another thread read or wrote in it (each a missing __syncthreads),
// and a read of an element that no thread has written.  The global arrays get the
// write-write check.  Both orders of a conflicting pair are caught, so the fixed order
// of the threads hides nothing.  It also checks that every thread of a block reaches
// the same barriers.
#pragma once

#ifndef EMU_COOPERATIVE
#define EMU_COOPERATIVE 0
#endif

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>
#if EMU_COOPERATIVE                  // (only then: they double the compile time)
#include <cstring>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#endif

#define MINICNN_CUDA_EMULATION 1     // kernels/common.h: SHARED is defined here, not there

// ----- the built-ins a kernel sees --------------------------------------------
struct dim3 { unsigned x = 1, y = 1, z = 1; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#if EMU_COOPERATIVE
#define __syncthreads() ::emu::sync_threads(__LINE__)
// SHARED(float, tile, 256) declares the block's array `tile`: an emu::SharedArray whose
// elements read and write like floats (and are watched in checked mode).
#define SHARED(type, name, n) \
    ::emu::SharedArray<type> name = ::emu::shared_array<type>(#name, __LINE__, (n))
#else                                // emulation.py saw neither in the source
#define __syncthreads() emu_syncthreads_needs_a_cooperative_build
#define SHARED(type, name, n) emu_SHARED_needs_a_cooperative_build
#endif

// CUDA's device maths overloads float and double under the C names.
using std::ceil; using std::exp; using std::fabs; using std::floor; using std::isinf;
using std::isnan; using std::log; using std::pow; using std::sqrt;
template <typename T> inline T max(T a, T b) { return a > b ? a : b; }
template <typename T> inline T min(T a, T b) { return a < b ? a : b; }
// plain overloads too, so that max(tile[i], v) converts a SHARED element
inline float max(float a, float b) { return a > b ? a : b; }
inline double max(double a, double b) { return a > b ? a : b; }
inline float min(float a, float b) { return a < b ? a : b; }
inline double min(double a, double b) { return a < b ? a : b; }

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

// ----- calling a kernel as one thread ------------------------------------------
// params[i] points at the value of argument i, as in the CUDA driver's cuLaunchKernel.
template <typename... A, std::size_t... I>
void call(void (*kernel)(A...), void** params, std::index_sequence<I...>) {
    kernel(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}

inline void set_block(long long b) {         // b: block number, x fastest
    blockIdx.x = b % gridDim.x; blockIdx.y = (b / gridDim.x) % gridDim.y;
    blockIdx.z = b / ((long long)gridDim.x * gridDim.y);
}

inline void set_thread(long long r) {        // r: thread number within the block
    threadIdx.x = r % blockDim.x; threadIdx.y = (r / blockDim.x) % blockDim.y;
    threadIdx.z = r / ((long long)blockDim.x * blockDim.y);
}

#if !EMU_COOPERATIVE
// ----- the launch of independent threads -----------------------------------------
// Run every thread of the grid in turn, or only thread `only` when only >= 0.  Nothing
// here can fail (the last three arguments serve cooperative launches).
template <typename... A>
const char* launch(void (*kernel)(A...), const unsigned* grid, const unsigned* blk,
                   void** params, long long only, int, const long long*, int) {
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {blk[0], blk[1], blk[2]};
    long long per_block = (long long)blk[0] * blk[1] * blk[2];
    long long threads = (long long)grid[0] * grid[1] * grid[2] * per_block;
    for (long long t = only < 0 ? 0 : only; t < (only < 0 ? threads : only + 1); ++t) {
        set_block(t / per_block);
        set_thread(t % per_block);
        call(kernel, params, std::index_sequence_for<A...>{});
    }
    return nullptr;
}

#else
// A kernel bug the emulation found: the launch stops, and Python raises it.
struct Failure : std::runtime_error { using std::runtime_error::runtime_error; };
[[noreturn]] inline void fail(const std::string& what) { throw Failure(what); }

// ----- the block being run -------------------------------------------------------
struct Fiber {
    ucontext_t context;
    bool done = false;
    int barrier_line = 0;            // the __syncthreads() it waits at, while not done
};

// Who touched one element (SHARED, or global) in which phase.
struct Access {
    long long write_phase = -1;      // -1: not written in this block yet
    int writer = -1;
    long long read_phase = -1;
    int reader = -1, other_reader = -1;   // two distinct readers in read_phase, if any
};

struct Block;
static Block* block = nullptr;       // the block being run, only during a launch

// One SHARED declaration of the running block: its storage and, in checked mode, the
// accesses of the current phase.
struct SharedState {
    std::string name;
    long long size = 0;
    std::vector<unsigned char> bytes;        // starts as 0xff: NaN, like garbage
    std::vector<Access> access;              // checked mode only

    std::string element(long long i) const { return name + "[" + std::to_string(i) + "]"; }
    void check_index(long long i) const;
    void read(long long i);
    void write(long long i);
};

struct Block {
    long long index = 0;
    int threads = 0, current = 0;    // current: the thread (fiber) running now
    long long phase = 0;             // barriers passed so far
    bool checked = false;
    std::function<void()> run_thread;        // the kernel, called with its arguments
    ucontext_t scheduler;
    std::vector<Fiber> fibers;
    std::map<std::pair<int, std::string>, SharedState> shared;   // by (line, name)
    std::string error;

    std::string where() const {
        return "block " + std::to_string(index) + ", phase " + std::to_string(phase);
    }
    std::string thread() const { return "thread " + std::to_string(current); }
};

inline void SharedState::check_index(long long i) const {
    if (i < 0 || i >= size)
        fail(block->where() + ": " + block->thread() + " indexed " + element(i) +
             ", outside SHARED " + name + "[" + std::to_string(size) + "]");
}

inline void SharedState::read(long long i) {
    if (!block->checked) return;
    Access& a = access[i];
    if (a.write_phase < 0)
        fail(block->where() + ": " + block->thread() + " read " + element(i) +
             " before any thread of the block wrote it (uninitialised shared memory)");
    if (a.write_phase == block->phase && a.writer != block->current)
        fail(block->where() + ": " + block->thread() + " read " + element(i) + ", which thread " +
             std::to_string(a.writer) + " wrote in the same phase: a __syncthreads() is "
             "missing between the write and the read");
    if (a.read_phase != block->phase)
        a.read_phase = block->phase, a.reader = block->current, a.other_reader = -1;
    else if (a.reader != block->current && a.other_reader < 0)
        a.other_reader = block->current;
}

inline void SharedState::write(long long i) {
    if (!block->checked) return;
    Access& a = access[i];
    int t = block->current;
    if (a.write_phase == block->phase && a.writer != t)
        fail(block->where() + ": threads " + std::to_string(a.writer) + " and " +
             std::to_string(t) + " both wrote " + element(i) + " in the same phase: "
             "a race on a real GPU");
    int other = a.read_phase != block->phase ? -1 : a.reader != t ? a.reader : a.other_reader;
    if (other >= 0)
        fail(block->where() + ": " + block->thread() + " wrote " + element(i) + ", which thread " +
             std::to_string(other) + " read in the same phase: a __syncthreads() is missing "
             "between the read and the write");
    a.write_phase = block->phase, a.writer = t;
}

// A reference to one SHARED element: reading converts to T, assigning writes.
template <typename T> class SharedRef {
  public:
    SharedRef(T* data, SharedState* state, long long i) : data_(data), state_(state), i_(i) {}
    operator T() const { state_->read(i_); return data_[i_]; }
    SharedRef& operator=(T v) { state_->write(i_); data_[i_] = v; return *this; }
    SharedRef& operator=(const SharedRef& other) { return *this = T(other); }
    SharedRef& operator+=(T v) { return *this = T(*this) + v; }
    SharedRef& operator-=(T v) { return *this = T(*this) - v; }
    SharedRef& operator*=(T v) { return *this = T(*this) * v; }
    SharedRef& operator/=(T v) { return *this = T(*this) / v; }
  private:
    T* data_;
    SharedState* state_;
    long long i_;
};

template <typename T> struct SharedArray {
    T* data;
    SharedState* state;
    SharedRef<T> operator[](long long i) const { state->check_index(i); return {data, state, i}; }
};

// What SHARED(type, name, n) runs in every thread: the block's array, made by the
// first thread that gets there.
template <typename T> SharedArray<T> shared_array(const char* name, int line, long long n) {
    SharedState& s = block->shared[{line, name}];
    if (s.bytes.empty()) {
        s.name = name, s.size = n;
        s.bytes.assign(n * sizeof(T), 0xff);
        if (block->checked) s.access.assign(n, Access{});
    }
    return {reinterpret_cast<T*>(s.bytes.data()), &s};
}

inline void sync_threads(int line) {
    Fiber& f = block->fibers[block->current];
    f.barrier_line = line;
    swapcontext(&f.context, &block->scheduler);      // back when the whole block is here
}

inline void fiber_main() {
    Block& b = *block;
    try {
        b.run_thread();
    } catch (const std::exception& e) {
        if (b.error.empty()) b.error = e.what();
    }
    b.fibers[b.current].done = true;
}   // returns to uc_link: the scheduler

// A global array in a checked launch: which thread of the block wrote each element in
// which phase.  (Python checks the blocks against each other.)
struct Watch {
    unsigned char* data;
    long long size;
    int itemsize, arg;
    std::vector<unsigned char> before;     // the array when the running thread resumed
    std::vector<Access> access;

    void record_writes(Block& b) {         // after a thread ran: what did it change?
        if (std::memcmp(data, before.data(), before.size()) == 0) return;
        for (long long e = 0; e < size; ++e) {
            std::size_t at = (std::size_t)e * itemsize;
            if (std::memcmp(data + at, before.data() + at, itemsize) == 0) continue;
            Access& a = access[e];
            if (a.write_phase == b.phase && a.writer != b.current)
                fail(b.where() + ": threads " + std::to_string(a.writer) + " and " +
                     std::to_string(b.current) + " both wrote element " + std::to_string(e) +
                     " of argument " + std::to_string(arg) + " in the same phase: a race on "
                     "a real GPU");
            a.write_phase = b.phase, a.writer = b.current;
        }
        std::memcpy(before.data(), data, before.size());
    }
};

// One stack per thread of a block, each above a guard page (an overflow faults).
struct Stacks {
    std::size_t page = (std::size_t)sysconf(_SC_PAGESIZE), bytes = 256 * 1024, total;
    char* memory = nullptr;
    std::vector<char*> tops;
    explicit Stacks(long long n) : total(n * (page + bytes)) {
        void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED) fail("no memory for " + std::to_string(n) + " fiber stacks");
        memory = static_cast<char*>(m);
        for (long long t = 0; t < n; ++t) {
            char* guard = memory + t * (page + bytes);
            mprotect(guard, page, PROT_NONE);
            tops.push_back(guard + page);
        }
    }
    ~Stacks() { munmap(memory, total); }
};

// ----- the launch of cooperative blocks ----------------------------------------
// Run block b's threads together, phase after phase (see the top of this file).
template <typename... A>
void run_block(void (*kernel)(A...), void** params, long long b, bool checked,
               const Stacks& stacks, std::vector<Watch>& watches) {
    Block state;
    state.index = b, state.threads = (int)stacks.tops.size(), state.checked = checked;
    state.run_thread = [&] { call(kernel, params, std::index_sequence_for<A...>{}); };
    state.fibers.resize(state.threads);
    block = &state;
    set_block(b);
    for (int t = 0; t < state.threads; ++t) {
        Fiber& f = state.fibers[t];
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = stacks.tops[t];
        f.context.uc_stack.ss_size = stacks.bytes;
        f.context.uc_link = &state.scheduler;
        makecontext(&f.context, fiber_main, 0);
    }
    for (Watch& w : watches) {
        w.before.assign(w.data, w.data + (std::size_t)w.size * w.itemsize);
        w.access.assign(w.size, Access{});
    }
    for (;;) {
        for (int t = 0; t < state.threads; ++t) {        // one phase: each thread in turn
            if (state.fibers[t].done) continue;
            state.current = t;
            set_thread(t);
            swapcontext(&state.scheduler, &state.fibers[t].context);
            if (!state.error.empty()) fail(state.error);
            for (Watch& w : watches) w.record_writes(state);
        }
        int waiting = -1, returned = -1;
        for (int t = state.threads - 1; t >= 0; --t)     // the first of each
            (state.fibers[t].done ? returned : waiting) = t;
        if (waiting < 0) break;                          // every thread has returned
        if (returned >= 0)
            fail(state.where() + ": thread " + std::to_string(waiting) + " waits at a "
                 "__syncthreads() that thread " + std::to_string(returned) + " never reaches "
                 "(it has returned): every thread of a block must reach every __syncthreads()");
        for (int t = 0; t < state.threads; ++t)
            if (state.fibers[t].barrier_line != state.fibers[waiting].barrier_line)
                fail(state.where() + ": threads " + std::to_string(waiting) + " and " +
                     std::to_string(t) + " wait at different __syncthreads() (lines " +
                     std::to_string(state.fibers[waiting].barrier_line) + " and " +
                     std::to_string(state.fibers[t].barrier_line) + " of the source as "
                     "compiled): every thread of a block must reach the same __syncthreads()");
        ++state.phase;
    }
    block = nullptr;
}

// Run every block of the grid in turn, or only block `only` when only >= 0.  watch:
// n_watch rows (pointer, elements, itemsize, argument) of the global arrays to check in a
// checked launch.  Returns nullptr, or the error the launch stopped at.
template <typename... A>
const char* launch(void (*kernel)(A...), const unsigned* grid, const unsigned* blk,
                   void** params, long long only, int checked, const long long* watch,
                   int n_watch) {
    static std::string error;
    error.clear();
    gridDim = {grid[0], grid[1], grid[2]};
    blockDim = {blk[0], blk[1], blk[2]};
    long long blocks = (long long)grid[0] * grid[1] * grid[2];
    try {
        Stacks stacks((long long)blk[0] * blk[1] * blk[2]);
        std::vector<Watch> watches;
        for (int i = 0; i < n_watch; ++i) {
            const long long* row = watch + 4 * i;
            watches.push_back({reinterpret_cast<unsigned char*>(row[0]), row[1], (int)row[2],
                               (int)row[3], {}, {}});
        }
        for (long long b = only < 0 ? 0 : only; b < (only < 0 ? blocks : only + 1); ++b)
            run_block(kernel, params, b, checked != 0, stacks, watches);
    } catch (const std::exception& e) {
        block = nullptr;
        error = e.what();
    }
    return error.empty() ? nullptr : error.c_str();
}
#endif  // EMU_COOPERATIVE

}  // namespace emu

// Whether this library runs blocks cooperatively (see the top of this file).
extern "C" int emu_cooperative() { return EMU_COOPERATIVE; }

// minicnn/cuda/emulation.py appends one EMU_EXPORT(name) per kernel: two C functions
// that ctypes can find by name.
#define EMU_EXPORT(name)                                                                   \
    extern "C" const char* emu_launch_##name(const unsigned* grid, const unsigned* block,  \
                                             void** params, long long only, int checked,   \
                                             const long long* watch, int n_watch) {        \
        return emu::launch(name, grid, block, params, only, checked, watch, n_watch);     \
    }                                                                                      \
    extern "C" const char* emu_signature_##name() { return emu::signature(name); }
