"""The machinery around the kernels: the CPU emulation must catch what it claims to
catch (races, out-of-bounds accesses, missing grid-stride loops, wrong argument
types), the loader must find the .cu files in the installed package, and importing
minicnn must not need CuPy."""
import ctypes
import re
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc
from minicnn import backend
from minicnn.cuda import emulation, loader
from minicnn.cuda.emulation import EmulatedKernel, PoisonedNumpy

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
