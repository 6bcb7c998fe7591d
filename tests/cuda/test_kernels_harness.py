"""The machinery around the kernels: the CPU emulation must catch what it claims to
catch (races, out-of-bounds accesses, missing grid-stride loops, wrong argument
types, and in cooperative kernels missing __syncthreads), the loader must find the .cu files in the installed package, and importing
minicnn must not need CuPy."""
import ctypes
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend
from minicnn.cuda import emulation, loader
from minicnn.cuda.emulation import EmulatedKernel, PoisonedNumpy
from minicnn.utils import assert_close

needs_compiler = pytest.mark.skipif(emulation.compiler() is None,
                                    reason="no C++ compiler (g++ or $CXX) for the CUDA emulation")

# Deliberately broken kernels, each a plain-C CUDA kernel over doubles.
BAD = r'''
// every thread adds into y[i / 2]: two threads per output, no atomics -> a race on a GPU
extern "C" __global__ void scatter_add(const double* x, double* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        y[i / 2] += x[i];
}
// writes one past the end
extern "C" __global__ void write_past_end(const double* x, double* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        y[i + 1] = x[i];
}
// reads one past the end
extern "C" __global__ void read_past_end(const double* x, double* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        y[i] = x[i + 1];
}
// no grid-stride loop: correct only if the grid has at least n threads
extern "C" __global__ void no_stride_loop(const double* x, double* y, long long n) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i];
}
// correct: for comparison
extern "C" __global__ void copy(const double* x, double* y, long long n) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        y[i] = x[i];
}
'''
NAMES = ["scatter_add", "write_past_end", "read_past_end", "no_stride_loop", "copy"]


@pytest.fixture(scope="module")
def bad_library():
    if emulation.compiler() is None:
        pytest.skip("no C++ compiler (g++ or $CXX) for the CUDA emulation")
    return ctypes.CDLL(emulation.compile_source(BAD, NAMES, tag="harness_test"))


def run(library, name, x, y, grid, block, checked=True):
    EmulatedKernel(library, name, checked=checked)((grid,), (block,), (x, y, np.int64(x.size)))
    return y


def test_race_between_threads_is_detected(bad_library):
    x, y = np.arange(1.0, 9.0), np.zeros(4)
    # run one thread after another, the race is invisible: the sums come out right ...
    assert np.array_equal(run(bad_library, "scatter_add", x, y.copy(), 2, 4, checked=False),
                          x[0::2] + x[1::2])
    # ... which is why checked launches run every thread on its own copy
    with pytest.raises(AssertionError, match="threads 0 and 1 both wrote element 0 of argument 1: a race"):
        run(bad_library, "scatter_add", x, y.copy(), 2, 4)


def test_out_of_bounds_write_is_detected(bad_library):
    with pytest.raises(AssertionError, match="wrote outside argument 1"):
        run(bad_library, "write_past_end", np.arange(5.0), np.zeros(5), 3, 7)


def test_out_of_bounds_read_gives_nan(bad_library):
    y = run(bad_library, "read_past_end", np.arange(5.0), np.zeros(5), 3, 7)
    assert np.array_equal(y[:4], np.arange(1.0, 5.0)) and np.isnan(y[4])


def test_missing_grid_stride_loop_is_caught_by_small_grids(bad_library):
    x = np.arange(10.0)
    assert np.array_equal(run(bad_library, "no_stride_loop", x, PoisonedNumpy.empty(10), 2, 8), x)
    y = run(bad_library, "no_stride_loop", x, PoisonedNumpy.empty(10), 3, 2)   # 6 threads
    assert np.isnan(y[6:]).all()          # never written: still the NaN poison
    assert np.array_equal(run(bad_library, "copy", x, PoisonedNumpy.empty(10), 3, 2), x)


# ----- cooperative kernels: SHARED memory and __syncthreads ---------------------------------
# tests/cuda/cuda_kernels/block_sum.cu: a correct block reduction and the bugs of cooperative kernels.
# Each sums the rows of x: (rows, len) -> out: (rows,), one block per row.
BLOCK_SUM = pathlib.Path(__file__).parent / "cuda_kernels" / "block_sum.cu"


@pytest.fixture(scope="module")
def block_sum():
    """kernel name -> EmulatedKernel factory (checked or not), float64, compiled as the
    loader compiles minicnn's kernels: common.h pasted in place of its #include."""
    if emulation.compiler() is None:
        pytest.skip("no C++ compiler (g++ or $CXX) for the CUDA emulation")
    text = BLOCK_SUM.read_text(encoding="utf-8")
    text += without_level_barrier(text)
    common = (loader.kernel_dir() / "common.h").read_text(encoding="utf-8")
    source = text.replace('#include "common.h"', common.replace("#pragma once", ""))
    names = re.findall(r"^ROW_KERNEL\((\w+)\)", text, re.M)
    library = ctypes.CDLL(emulation.compile_source(
        source, [loader.entry_name(n, np.float64) for n in names],
        loader.compile_options(np.float64), tag="block_sum_test"))
    return lambda name, checked: EmulatedKernel(library, loader.entry_name(name, np.float64),
                                                checked=checked)


def without_level_barrier(text):
    """row_sum as row_sum_no_level_barrier, its __syncthreads() between levels deleted: thread 0
    then reads partial[2] (say) before or after thread 2 added into it, whichever the
    hardware happens to schedule."""
    kernel = text[text.index("ROW_KERNEL(row_sum)"):]
    kernel = kernel[:kernel.index("\n}\n") + 3]
    barrier = re.search(r"\n *__syncthreads\(\); *// this level is done[^\n]*", kernel).group()
    return "\n" + kernel.replace(barrier, "").replace("(row_sum)", "(row_sum_no_level_barrier)")


def row_sums(block_sum, name, x, grid, block, checked=True):
    out = PoisonedNumpy.empty(x.shape[0])
    block_sum(name, checked)((grid,), (block,), (x, out, *map(np.int64, x.shape)))
    return out


ROWS = np.random.default_rng(0).standard_normal((5, 37))


@pytest.mark.parametrize("checked", [False, True], ids=["plain", "checked"])
@pytest.mark.parametrize("grid, block", [(1, 1), (1, 2), (2, 8), (3, 64), (5, 256)], ids=str)
def test_correct_block_reduction_passes(block_sum, grid, block, checked):
    """Tree reduction in SHARED memory with a barrier after each level: right under every
    launch, and clean in checked mode.  (Run one thread after another, without real
    barriers, thread 0 would add partial sums no other thread had written yet.)"""
    assert block_sum("row_sum", checked).cooperative
    assert_close(row_sums(block_sum, "row_sum", ROWS, grid, block, checked), ROWS.sum(axis=1),
                 name=f"row_sum grid={grid} block={block}")


def test_missing_barrier_in_block_reduction_is_caught(block_sum):
    # without the barrier between levels the sums are wrong (thread 0 runs ahead) ...
    assert not np.allclose(row_sums(block_sum, "row_sum_no_level_barrier", ROWS, 2, 8,
                                    checked=False), ROWS.sum(axis=1))
    # ... and checked mode says where: thread 0 read partial[1] before thread 1 added into it
    with pytest.raises(AssertionError, match=r"block 0, phase 1: thread 1 wrote partial\[1\], "
                       r"which thread 0 read in the same phase: a __syncthreads\(\) is missing"):
        row_sums(block_sum, "row_sum_no_level_barrier", ROWS, 2, 8)


def test_race_between_two_threads_in_one_phase_is_caught(block_sum):
    # thread 1 reads what thread 0 stored, no barrier between: in the emulation's fixed
    # order (thread 0 first) the answer happens to be right ...
    assert np.array_equal(row_sums(block_sum, "read_without_barrier", ROWS, 2, 8, checked=False),
                          ROWS[:, 0])
    # ... on a GPU it is a race, and checked mode fails it
    with pytest.raises(AssertionError, match=r"thread 1 read partial\[0\], which thread 0 wrote "
                       r"in the same phase: a __syncthreads\(\) is missing"):
        row_sums(block_sum, "read_without_barrier", ROWS, 2, 8)
    with pytest.raises(AssertionError, match=r"threads 0 and 1 both wrote partial\[0\] in the "
                       "same phase: a race"):
        row_sums(block_sum, "two_writers", ROWS, 2, 8)
    with pytest.raises(AssertionError, match="block 0, phase 0: threads 0 and 1 both wrote "
                       "element 0 of argument 1 in the same phase: a race"):
        row_sums(block_sum, "all_threads_write_out", ROWS, 2, 8)
    with pytest.raises(AssertionError, match="blocks 0 and 1 both wrote element 0 of argument 1"):
        row_sums(block_sum, "all_blocks_write_out0", ROWS, 2, 8)


def test_every_thread_must_reach_the_same_barriers(block_sum):
    short = ROWS[:, :5].copy()    # threads 5.. of a block of 8 return before the barrier
    with pytest.raises(AssertionError, match=r"thread 0 waits at a __syncthreads\(\) that "
                       "thread 5 never reaches"):
        row_sums(block_sum, "early_return", short, 2, 8, checked=False)
    with pytest.raises(AssertionError, match=r"threads 0 and 1 wait at different __syncthreads"):
        row_sums(block_sum, "two_barriers", ROWS, 2, 8, checked=False)


def test_shared_memory_is_bounded_and_starts_unwritten(block_sum):
    with pytest.raises(AssertionError, match=r"thread 256 indexed partial\[256\], outside "
                       r"SHARED partial\[256\]"):
        row_sums(block_sum, "row_sum", ROWS, 1, 512, checked=False)
    # a block of 8 threads fills partial[0:8] only; thread 0 then reads partial[36]
    with pytest.raises(AssertionError, match=r"thread 0 read partial\[36\] before any thread "
                       "of the block wrote it"):
        row_sums(block_sum, "early_return", ROWS, 2, 8)
    assert np.isnan(row_sums(block_sum, "early_return", ROWS, 2, 8, checked=False)).all()
    with pytest.raises(ValueError, match="more than 1024 threads"):
        row_sums(block_sum, "row_sum", ROWS, 1, 2048)


def test_cooperation_is_read_from_the_source(bad_library):
    """Files without __syncthreads or SHARED keep the fast path: a plain loop over threads."""
    assert emulation.cooperates("SHARED(float, tile, 32);")
    assert emulation.cooperates("if (i < n) y[i] = 1;\n  __syncthreads ();")
    assert not emulation.cooperates("// no __syncthreads() here\n/* nor SHARED(x) */ y[i] = 1;")
    assert not emulation.cooperates((loader.kernel_dir() / "common.h").read_text())
    # of the shipped files only norm.cu (batch norm's per-channel block sums) and
    # depthwise_weight.cu (one block per weight, its sum over the images) cooperate
    assert [f for f in loader.kernel_files() if emulation.cooperates(loader.read_source(f))] == ["depthwise_weight", "norm"]
    assert not EmulatedKernel(bad_library, "copy").cooperative


def test_launch_dimensions_may_be_tuples(bad_library):
    x = np.arange(30.0)
    y = np.zeros(30)
    EmulatedKernel(bad_library, "copy")((2, 1, 1), [3], (x, y, np.int64(30)))
    assert np.array_equal(y, x)
    with pytest.raises(ValueError, match="bad grid size"):
        EmulatedKernel(bad_library, "copy")((0,), (3,), (x, y, np.int64(30)))


def test_arguments_are_checked_like_a_gpu_would_need(bad_library):
    kernel = EmulatedKernel(bad_library, "copy")
    assert kernel.signature == ["*d", "*d", "q"]
    x, y = np.arange(4.0), np.zeros(4)
    with pytest.raises(TypeError, match=r"argument 2 must be a numpy int64 scalar, got int"):
        kernel((1,), (1,), (x, y, 4))                      # CuPy would pass a Python int as-is
    with pytest.raises(TypeError, match="argument 2 must be a numpy int64 scalar, got int32"):
        kernel((1,), (1,), (x, y, np.int32(4)))
    with pytest.raises(TypeError, match="argument 0 must be a float64 array, got ndarray float32"):
        kernel((1,), (1,), (x.astype(np.float32), y, np.int64(4)))
    with pytest.raises(ValueError, match="argument 1 must be C-contiguous"):
        kernel((1,), (1,), (x, np.zeros(8)[::2], np.int64(4)))
    with pytest.raises(TypeError, match="expected 3 arguments, got 2"):
        kernel((1,), (1,), (x, y))


@needs_compiler
def test_compile_errors_are_reported():
    with pytest.raises(RuntimeError, match="compiling broken for the CPU emulation failed"):
        emulation.compile_source("this is not C++", [], tag="broken")


@needs_compiler
def test_compiled_libraries_are_cached():
    first = emulation.compile_library("activation", np.float32)
    assert emulation.compile_library("activation", np.float32) == first
    assert emulation.compile_library("activation", np.float64) != first


# ----- the loader -------------------------------------------------------------------------
def test_kernel_files_are_found_in_the_package_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"activation", "conv", "norm", "pool"} <= set(loader.kernel_files())
    source = loader.read_source("conv")
    assert not re.search(r"^\s*#\s*include", source, re.M)   # headers pasted in: one string
    assert "#define GRID_STRIDE_LOOP" in source
    assert loader.kernel_names("conv") == ["im2col", "col2im"]


def test_entry_names_and_options_per_dtype():
    assert loader.entry_name("im2col", np.float32) == "im2col_f32"
    assert loader.entry_name("im2col", np.float64) == "im2col_f64"
    assert loader.compile_options(np.float64) == ("-Dscalar_t=double", "-DDTYPE_SUFFIX=f64")
    with pytest.raises(TypeError, match="float32 or float64 arrays, got float16"):
        loader.check_dtype(np.float16, "cuda im2col")


# ----- device plumbing ----------------------------------------------------------------------
def test_importing_minicnn_never_imports_cupy():
    code = "import sys, minicnn; minicnn.cuda.ops; print('cupy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_is_available_is_a_bool():
    assert mc.cuda.is_available() in (True, False)
    assert mc.cuda.is_available() == backend.cuda_available()


@pytest.mark.skipif(backend.cuda_available(), reason="CuPy and a GPU are present")
def test_ops_without_cupy_explains_what_to_install():
    assert mc.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="device 'cuda' needs CuPy.*pip install cupy-cuda12x"):
        mc.cuda.ops()
