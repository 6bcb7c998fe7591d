"""Finding, reading and compiling the CUDA kernels shipped in ``kernels/*.cu``.

The .cu files live in the package ``minicnn.kernels`` (the ``kernels/`` folder at the
top of the repository, installed inside the package by setup.py), so they are found
relative to the installed package, never the working directory.

Each file is compiled once per floating-point type (see kernels/common.h):
``KERNEL(im2col)`` becomes ``im2col_f32`` with ``-Dscalar_t=float`` and ``im2col_f64``
with ``-Dscalar_t=double``.  A *loader* is any callable
``loader(file, name, dtype) -> kernel`` whose result is called like ``cupy.RawKernel``:
``kernel((grid,), (block,), args)``.  ``CupyLoader`` (here) compiles for the GPU;
``minicnn.cuda.emulation.EmulationLoader`` compiles the same source for the CPU.
"""
import importlib.resources
import re

import numpy as np

# dtype -> (C type of scalar_t, suffix of the entry points)
DTYPES = {np.dtype(np.float32): ("float", "f32"), np.dtype(np.float64): ("double", "f64")}

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([\w.]+)"\s*$', re.MULTILINE)
_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+KERNEL\((\w+)\)')


def kernel_dir():
    """The folder holding the .cu files (a Traversable; a real folder once installed),
    always the one next to the ``minicnn`` package actually imported.

    Installed, they are ``minicnn/kernels/``; in a source checkout (editable install or
    PYTHONPATH) they are the repository's top-level ``kernels/``, beside ``minicnn/``.
    Never ``importlib.resources.files("minicnn.kernels")``: with a second checkout
    installed in editable mode, its import finder would supply *that* checkout's
    kernels to this checkout's code.
    """
    package = importlib.resources.files("minicnn")
    installed = package / "kernels"
    return installed if installed.is_dir() else package / ".." / "kernels"


def kernel_files():
    """Names of the kernel files without '.cu': ['activation', 'conv', ...]."""
    return sorted(f.name[:-3] for f in kernel_dir().iterdir() if f.name.endswith(".cu"))


def read_source(file):
    """The text of kernels/<file>.cu with each ``#include "x.h"`` replaced by x.h's text.

    Pasting the headers in (instead of passing an include path) makes the source one
    self-contained string: CuPy's compile cache, keyed by that string, then notices
    when a header changes.
    """
    def paste(match):
        header = (kernel_dir() / match.group(1)).read_text(encoding="utf-8")
        return header.replace("#pragma once", "")
    return _INCLUDE.sub(paste, (kernel_dir() / f"{file}.cu").read_text(encoding="utf-8"))


def kernel_names(file):
    """The kernels defined in kernels/<file>.cu, without their dtype suffix."""
    return _KERNEL.findall((kernel_dir() / f"{file}.cu").read_text(encoding="utf-8"))


def check_dtype(dtype, op):
    """float32 or float64, or a clear error naming the op."""
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise TypeError(f"minicnn: {op}: the CUDA kernels take float32 or float64 arrays, "
                        f"got {dtype}")
    return dtype


def compile_options(dtype):
    """Preprocessor options that instantiate a kernel file for ``dtype``."""
    ctype, suffix = DTYPES[np.dtype(dtype)]
    return (f"-Dscalar_t={ctype}", f"-DDTYPE_SUFFIX={suffix}")


def entry_name(name, dtype):
    """'im2col', float32 -> 'im2col_f32': the C name of a kernel instance."""
    return f"{name}_{DTYPES[np.dtype(dtype)][1]}"


class CupyLoader:
    """Compiles kernel files with CuPy (NVRTC) on first use; one module per file and dtype.

    CuPy also keeps the compiled binaries in its on-disk cache (~/.cupy/kernel_cache),
    so a new process only pays for loading them.
    """

    def __init__(self, cupy):
        self.cupy = cupy
        self._modules = {}
        self._kernels = {}

    def __call__(self, file, name, dtype):
        key = (file, name, np.dtype(dtype))
        if key not in self._kernels:
            module_key = (file, np.dtype(dtype))
            if module_key not in self._modules:
                self._modules[module_key] = self.cupy.RawModule(
                    code=read_source(file), options=compile_options(dtype))
            self._kernels[key] = self._modules[module_key].get_function(entry_name(name, dtype))
        return self._kernels[key]
