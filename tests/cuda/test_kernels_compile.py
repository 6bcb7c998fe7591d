"""Every kernel file compiles for real GPUs, in both dtypes, exactly as minicnn loads it.

* nvcc (the CUDA toolkit's compiler) to PTX for sm_80 (A100) and sm_90 (H100);
* NVRTC, the run-time compiler CuPy's RawModule uses, with the very source string
  and options of minicnn.cuda.loader (NVRTC has no system headers: INFINITY or
  <math.h> would compile under nvcc and fail here).

Skipped, with the reason, where the compiler is absent.  No GPU is needed.
Also: tests/cuda/cuda_kernels/block_sum.cu, a cooperative kernel of the emulation harness, compiles
the same ways, so common.h's SHARED macro is proved on the real compilers.
Also: the loader reads the kernels next to the imported package, and no other checkout's.
"""
import importlib.abc
import importlib.util
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minicnn
from minicnn.cuda import loader

DTYPES = (np.float32, np.float64)


def expected_entries(dtype):
    return {loader.entry_name(n, dtype) for f in loader.kernel_files() for n in loader.kernel_names(f)}


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) not found on PATH")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_nvcc_compiles_every_kernel_file(arch, tmp_path):
    # what the loader hands to the compiler: each file with its headers pasted in
    sources = []
    for file in loader.kernel_files():
        path = tmp_path / f"{file}.cu"
        path.write_text(loader.read_source(file), encoding="utf-8")
        sources.append(str(path))
    runs = {}
    for dtype in DTYPES:                 # both dtypes at once: two processes
        out = tmp_path / np.dtype(dtype).name
        out.mkdir()
        runs[dtype] = (out, subprocess.Popen(
            ["nvcc", "--ptx", f"-arch={arch}", *loader.compile_options(dtype), "-odir", str(out),
             *sources], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for dtype, (out, process) in runs.items():
        log = process.communicate()[0]
        assert process.returncode == 0, f"nvcc -arch={arch} ({np.dtype(dtype)}):\n{log}"
        ptx = "".join(p.read_text() for p in out.glob("*.ptx"))
        entries = set(re.findall(r"\.entry\s+(\w+)\s*\(", ptx))
        assert entries == expected_entries(dtype)
        assert "warning" not in log.lower(), log
        norm = (out / "norm.ptx").read_text()     # batch norm's block sums: SHARED became
        assert ".shared" in norm and "bar.sync" in norm   # __shared__ memory, with barriers


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
        nvrtc.nvrtcVersion()
        return nvrtc
    except Exception:                    # not installed, or no libnvrtc to load
        return None


def nvrtc_ptx(source, filename, options):
    """Compile CUDA ``source`` with NVRTC for compute_80; its PTX (bytes), or a failed
    assertion with the compiler's log."""
    nvrtc = _nvrtc()
    err, program = nvrtc.nvrtcCreateProgram(source.encode(), filename.encode(), 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS
    try:
        options = [o.encode() for o in (*options, "--gpu-architecture=compute_80")]
        (result,) = nvrtc.nvrtcCompileProgram(program, len(options), options)
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = bytearray(size)            # never b" " * size: for size 1 that is CPython's shared
        #                                  one-byte object, and writing into it corrupts the interpreter
        nvrtc.nvrtcGetProgramLog(program, log)
        assert result == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace")
        _, size = nvrtc.nvrtcGetPTXSize(program)
        ptx = bytearray(size)
        nvrtc.nvrtcGetPTX(program, ptx)
        return bytes(ptx)
    finally:
        nvrtc.nvrtcDestroyProgram(program)


needs_nvrtc = pytest.mark.skipif(_nvrtc() is None, reason="NVRTC not available (pip package "
                                                          "cuda-bindings and the NVRTC library)")


@needs_nvrtc
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("file", loader.kernel_files())
def test_nvrtc_compiles_what_cupy_would_load(file, dtype):
    ptx = nvrtc_ptx(loader.read_source(file), f"{file}.cu", loader.compile_options(dtype))
    for name in loader.kernel_names(file):   # extern "C": the names CuPy's get_function asks for
        assert f".entry {loader.entry_name(name, dtype)}(".encode() in ptx


COOPERATIVE = pathlib.Path(__file__).parent / "cuda_kernels" / "block_sum.cu"


def _cooperative_source():
    """tests/cuda/cuda_kernels/block_sum.cu with common.h pasted in, as the loader pastes it."""
    common = (pathlib.Path(str(loader.kernel_dir())) / "common.h").read_text(encoding="utf-8")
    return COOPERATIVE.read_text(encoding="utf-8").replace('#include "common.h"', common)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc (CUDA toolkit) not found on PATH")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_nvcc_compiles_shared_memory_and_barriers(arch, tmp_path):
    source = tmp_path / "block_sum.cu"
    source.write_text(_cooperative_source(), encoding="utf-8")
    done = subprocess.run(["nvcc", "--ptx", f"-arch={arch}", *loader.compile_options(np.float32),
                           "-o", str(tmp_path / "block_sum.ptx"), str(source)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ptx = (tmp_path / "block_sum.ptx").read_text()
    assert ".shared" in ptx and "bar.sync" in ptx     # SHARED became __shared__ memory
    assert ".entry row_sum_f32(" in ptx


@needs_nvrtc
def test_nvrtc_compiles_shared_memory_and_barriers():
    ptx = nvrtc_ptx(_cooperative_source(), "block_sum.cu", loader.compile_options(np.float64))
    assert b".shared" in ptx and b"bar.sync" in ptx and b".entry row_sum_f64(" in ptx


def test_the_kernels_are_the_ones_next_to_the_imported_package(tmp_path, monkeypatch):
    """An editable install of *another* checkout adds an import finder that maps the
    name minicnn.kernels to that checkout's kernels/ folder; this checkout's code must
    still compile this checkout's .cu files."""
    other = tmp_path / "other-checkout" / "kernels"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("")
    (other / "planted.cu").write_text('extern "C" __global__ void KERNEL(planted)() {}')

    class OtherCheckoutFinder(importlib.abc.MetaPathFinder):   # what setuptools installs
        def find_spec(self, name, path=None, target=None):
            if name == "minicnn.kernels":
                return importlib.util.spec_from_file_location(
                    name, other / "__init__.py", submodule_search_locations=[str(other)])
            return None
    monkeypatch.setattr(sys, "meta_path", [OtherCheckoutFinder(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "minicnn.kernels", raising=False)

    package = pathlib.Path(minicnn.__file__).parent
    ours = package / "kernels" if (package / "kernels").is_dir() else package.parent / "kernels"
    assert pathlib.Path(str(loader.kernel_dir())).resolve() == ours.resolve()
    assert loader.kernel_files() == sorted(f.stem for f in ours.glob("*.cu"))
    assert "planted" not in loader.kernel_files()
