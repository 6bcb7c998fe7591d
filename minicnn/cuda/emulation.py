"""Run the CUDA kernels on the CPU, to test them without a GPU.

``EmulationLoader`` compiles a kernel file with the system C++ compiler, with
kernels/cuda_emulation.h forced in: the CUDA built-ins become plain C++.  The
resulting ``EmulatedKernel`` is called exactly like ``cupy.RawKernel`` --
``kernel((grid,), (block,), args)`` -- on NumPy arrays, so the launch layer
(minicnn/cuda/launch.py) runs unchanged on NumPy and its results can be compared
with the NumPy reference ops.

A launch runs in one of two ways, chosen per file from its source:
  * independent threads (no ``__syncthreads`` or ``SHARED``): one (block, thread)
    after another, a plain loop -- the fast path of every one-thread-per-element kernel;
  * cooperative blocks: one block after another, the threads of a block together
    (fibers), ``__syncthreads()`` a real barrier, ``SHARED`` arrays per block.

With ``checked=True`` each unit of the grid -- a GPU thread, or a whole block for a
cooperative kernel -- runs alone on a private copy of the arrays, which are
surrounded by guard bands of NaN bytes.  That catches the bugs a sequential loop
would hide:
  * two threads (or blocks) writing the same element (a race on a real GPU),
  * a thread writing outside an array (the guard bands change),
  * a thread reading outside an array (it reads NaN, which spoils the result);
and inside a cooperative block (cuda_emulation.h) a missing ``__syncthreads``: a read
of shared memory that another thread wrote in the same phase, two threads writing one
shared or global element in one phase, a read of shared memory nobody wrote.

Compiled libraries are cached on disk, keyed by a hash of everything that goes
into them, under $MINICNN_CACHE_DIR, else $XDG_CACHE_HOME/minicnn or ~/.cache/minicnn.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

from . import loader as _loader

# signature letter (see emu::type_code in cuda_emulation.h) -> NumPy type, ctypes type
_TYPES = {"f": (np.float32, ctypes.c_float), "d": (np.float64, ctypes.c_double),
          "q": (np.int64, ctypes.c_longlong), "i": (np.int32, ctypes.c_int),
          "?": (np.bool_, ctypes.c_bool), "B": (np.uint8, ctypes.c_ubyte)}
_GUARD = 64          # guard-band length, in elements, on each side of an array (checked mode)
_MAX_BLOCK = 1024    # threads per block, CUDA's limit
# What makes a kernel file cooperative, in its code (comments and #define lines aside).
_COOPERATION = re.compile(r"\b__syncthreads\s*\(|\bSHARED\s*\(")
_COMMENTS_AND_DIRECTIVES = re.compile(r"//[^\n]*|/\*.*?\*/|^[ \t]*#(?:[^\n]*\\\n)*[^\n]*",
                                      re.S | re.M)


def compiler():
    """The C++ compiler to use ($CXX, else g++), or None."""
    return shutil.which(os.environ.get("CXX", "g++"))


def cache_dir():
    root = (os.environ.get("MINICNN_CACHE_DIR")
            or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                            "minicnn"))
    path = os.path.join(root, "cuda-emulation")
    try:
        os.makedirs(path, exist_ok=True)
        return path
    except OSError:    # read-only home: fall back to a per-user temporary folder
        path = os.path.join(tempfile.gettempdir(), f"minicnn-{os.getuid()}", "cuda-emulation")
        os.makedirs(path, exist_ok=True)
        return path


def cooperates(source):
    """Whether CUDA ``source`` lets threads cooperate (``__syncthreads`` or ``SHARED``)."""
    return bool(_COOPERATION.search(_COMMENTS_AND_DIRECTIVES.sub(" ", source)))


def compile_library(file, dtype):
    """Compile kernels/<file>.cu for ``dtype`` into a shared library; return its path."""
    names = [_loader.entry_name(n, dtype) for n in _loader.kernel_names(file)]
    return compile_source(_loader.read_source(file), names, _loader.compile_options(dtype),
                          tag=f"{file}_{np.dtype(dtype).name}")


def compile_source(source, kernel_names, options=(), tag="kernels"):
    """Compile CUDA ``source`` for the CPU, exporting ``kernel_names``; return the .so path."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("minicnn: the CUDA emulation needs a C++ compiler (g++ or $CXX); "
                           "none was found")
    header = (_loader.kernel_dir() / "cuda_emulation.h").read_text(encoding="utf-8")
    source = source + "\n" + "".join(f"EMU_EXPORT({n})\n" for n in kernel_names)
    flags = ["-std=c++17", "-O2", "-shared", "-fPIC", *options,
             f"-DEMU_COOPERATIVE={int(cooperates(source))}"]
    key = hashlib.sha256("\0".join([header, source, cxx, *flags]).encode()).hexdigest()[:20]
    folder = cache_dir()
    lib = os.path.join(folder, f"{tag}_{key}.so")
    if not os.path.exists(lib):
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            cpp, hdr = os.path.join(tmp, f"{tag}.cpp"), os.path.join(tmp, "cuda_emulation.h")
            with open(cpp, "w", encoding="utf-8") as f:
                f.write(source)
            with open(hdr, "w", encoding="utf-8") as f:
                f.write(header)
            out = os.path.join(tmp, "lib.so")
            done = subprocess.run([cxx, *flags, "-include", hdr, cpp, "-o", out],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"minicnn: compiling {tag} for the CPU emulation "
                                   f"failed:\n{done.stderr}")
            os.replace(out, lib)    # atomic: a parallel test run never sees half a file
    return lib


class EmulatedKernel:
    """One kernel instance on the CPU, called like ``cupy.RawKernel``."""

    def __init__(self, library, name, checked=False):
        self.name, self.checked = name, checked
        self.cooperative = bool(library.emu_cooperative())
        self._launch = getattr(library, f"emu_launch_{name}")
        self._launch.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint),
                                 ctypes.POINTER(ctypes.c_void_p), ctypes.c_longlong,
                                 ctypes.c_int, ctypes.POINTER(ctypes.c_longlong), ctypes.c_int]
        self._launch.restype = ctypes.c_char_p        # the error, or None
        describe = getattr(library, f"emu_signature_{name}")
        describe.restype = ctypes.c_char_p
        self.signature = describe().decode().split()     # e.g. ['*f', 'q', 'q', '*f']

    def __call__(self, grid, block, args, shared_mem=0):
        grid, block = _dim3(grid, "grid"), _dim3(block, "block")
        if int(np.prod(block)) > _MAX_BLOCK:
            raise ValueError(f"minicnn: emulated launch: block {block} has more than "
                             f"{_MAX_BLOCK} threads, CUDA's limit")
        if shared_mem:
            raise ValueError("minicnn kernels use no dynamic shared memory (declare "
                             "fixed-size SHARED arrays)")
        self._check_args(args)
        if self.checked:
            self._run_checked(grid, block, list(args))
        else:
            self._run(grid, block, args, only=-1)

    # ----- calling into C ---------------------------------------------------------------
    def _run(self, grid, block, args, only, watch=()):
        """Run the grid, or only its unit ``only``; ``watch``: (argument, array) pairs
        whose writes a checked cooperative block checks thread by thread."""
        # params[i] points at the value of argument i (cuLaunchKernel's convention)
        values = [ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray)
                  else _TYPES[code][1](a.item()) for a, code in zip(args, self.signature)]
        params = (ctypes.c_void_p * max(len(values), 1))(
            *[ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values])
        rows = [(a.ctypes.data, a.size, a.itemsize, i) for i, a in watch]
        table = (ctypes.c_longlong * max(4 * len(rows), 1))(*[v for row in rows for v in row])
        error = self._launch((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block), params,
                             only, int(self.checked), table, len(rows))
        if error is not None:
            raise AssertionError(f"minicnn: emulated kernel {self.name}: {error.decode()}")

    def _check_args(self, args):
        """What CuPy would silently misread on a GPU is an error here."""
        where = f"minicnn: emulated kernel {self.name}"
        if len(args) != len(self.signature):
            raise TypeError(f"{where}: expected {len(self.signature)} arguments, got {len(args)}")
        for i, (a, code) in enumerate(zip(args, self.signature)):
            want = np.dtype(_TYPES[code.lstrip("*")][0])
            if code.startswith("*"):
                if not isinstance(a, np.ndarray) or a.dtype != want:
                    raise TypeError(f"{where}: argument {i} must be a {want} array, got "
                                    f"{type(a).__name__} {getattr(a, 'dtype', '')}")
                if not a.flags.c_contiguous:
                    raise ValueError(f"{where}: argument {i} must be C-contiguous: a kernel "
                                     "sees only the raw buffer")
            elif not (isinstance(a, np.generic) and a.dtype == want):
                raise TypeError(f"{where}: argument {i} must be a numpy {want} scalar, got "
                                f"{type(a).__name__} {a!r}")

    # ----- checked mode ------------------------------------------------------------------
    def _run_checked(self, grid, block, args):
        # the unit that runs alone: a thread, or a whole block when threads cooperate
        # (then the C++ side checks the threads of the block against each other)
        unit = "block" if self.cooperative else "thread"
        units = int(np.prod(grid)) * (1 if self.cooperative else int(np.prod(block)))
        arrays = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]
        before = {i: _guarded(args[i]) for i in arrays}     # the start state, guards around
        buffers = {i: before[i].copy() for i in arrays}
        run_args = [buffers[i][_GUARD:-_GUARD] if i in buffers else a for i, a in enumerate(args)]
        watch = [(i, run_args[i]) for i in arrays] if self.cooperative else ()
        writer = {i: np.full(args[i].size, -1, np.int64) for i in arrays}   # who wrote what
        for t in range(units):
            for i in arrays:
                buffers[i][...] = before[i]
            self._run(grid, block, run_args, only=t, watch=watch)
            for i in arrays:
                changed = _bits(buffers[i]) != _bits(before[i])
                if changed[:_GUARD].any() or changed[-_GUARD:].any():
                    raise AssertionError(f"minicnn: emulated kernel {self.name}: {unit} {t} "
                                         f"wrote outside argument {i} ({args[i].size} elements)")
                changed = changed[_GUARD:-_GUARD]
                clash = changed & (writer[i] >= 0)
                if clash.any():
                    e = int(np.flatnonzero(clash)[0])
                    raise AssertionError(
                        f"minicnn: emulated kernel {self.name}: {unit}s {writer[i][e]} and {t} "
                        f"both wrote element {e} of argument {i}: a race on a real GPU")
                writer[i][changed] = t
                # the merged result: each element as its only writer left it
                args[i].reshape(-1)[changed] = buffers[i][_GUARD:-_GUARD][changed]


def _guarded(a):
    """``a`` flattened, between two guard bands of 0xff bytes."""
    out = np.zeros(a.size + 2 * _GUARD, a.dtype)
    out.view(np.uint8)[...] = 0xFF
    out[_GUARD:-_GUARD] = a.reshape(-1)
    return out


def _bits(a):
    """The raw bits of each element, so NaN == NaN and -0.0 != 0.0."""
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def _dim3(size, what):
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if not 1 <= len(size) <= 3 or any(int(s) < 1 for s in size):
        raise ValueError(f"minicnn: emulated launch: bad {what} size {size}")
    return tuple(int(s) for s in size) + (1,) * (3 - len(size))


class EmulationLoader:
    """A kernel loader (see minicnn/cuda/loader.py) that compiles for the CPU."""

    def __init__(self, checked=False):
        self.checked = checked
        self._libraries = {}

    def __call__(self, file, name, dtype):
        key = (file, np.dtype(dtype))
        if key not in self._libraries:
            self._libraries[key] = ctypes.CDLL(compile_library(file, dtype))
        return EmulatedKernel(self._libraries[key], _loader.entry_name(name, dtype),
                              checked=self.checked)


class PoisonedNumpy:
    """NumPy, except that ``empty`` fills new arrays with NaN bytes (0xff).

    Give it to the launch layer as ``xp`` in tests: an output element that no thread
    writes then shows up as NaN instead of passing by luck with leftover memory.
    """

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float):
        out = np.empty(shape, dtype)
        out.view(np.uint8)[...] = 0xFF
        return out
