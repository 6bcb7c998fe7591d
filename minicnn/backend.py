"""The one place that knows about NumPy versus CuPy.

Every op is written against ``xp``, the array module of its inputs, so the same
code runs on the CPU (NumPy) and on the GPU (CuPy).  CuPy is imported lazily:
``import minicnn`` never needs it.
"""
import contextlib
import os

import numpy as np

DEVICES = ("cpu", "cuda")
_cupy = None          # the cupy module once imported successfully
_cupy_error = None    # why importing it failed, for the error message


def _import_cupy():
    global _cupy, _cupy_error
    if _cupy is None and _cupy_error is None:
        try:
            import cupy
            cupy.cuda.runtime.getDeviceCount()   # raises without a driver or a GPU
            _cupy = cupy
        except Exception as e:                   # ImportError, CUDARuntimeError, ...
            _cupy_error = f"{type(e).__name__}: {e}"
    return _cupy


def cuda_available():
    """True when CuPy imports and sees at least one GPU."""
    return _import_cupy() is not None


def require_cupy():
    """Return the cupy module, or explain clearly why device 'cuda' cannot be used."""
    cp = _import_cupy()
    if cp is None:
        raise RuntimeError(
            "minicnn: device 'cuda' needs CuPy and a CUDA GPU, but CuPy could not be used "
            f"({_cupy_error}). Install the wheel matching your CUDA, e.g. "
            "`pip install cupy-cuda12x` (see README), or use device='cpu'.")
    return cp


def normalize_device(device):
    """'cpu', 'cuda' or 'cuda:0' -> 'cpu' / 'cuda'; anything else is an error."""
    name = str(device).split(":")[0]
    if name not in DEVICES:
        raise ValueError(f"minicnn: unknown device {device!r}; expected one of {DEVICES}")
    return name


def get_array_module(*arrays):
    """NumPy, unless one of ``arrays`` is a CuPy array (then CuPy)."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            return _cupy if _cupy is not None else require_cupy()
    return np


def device_of(array):
    return "cuda" if get_array_module(array) is not np else "cpu"


def to_device(array, device):
    """Move an array to 'cpu' or 'cuda' (a no-op when it is already there)."""
    device = normalize_device(device)
    if device_of(array) == device:
        return array
    if device == "cuda":
        return require_cupy().asarray(array)
    return array.get()


def to_numpy(array):
    """A NumPy array with the same values, wherever ``array`` lives."""
    return to_device(array, "cpu")


# ----- CPU fast paths --------------------------------------------------------
# Hot CPU ops have two implementations side by side: a readable NumPy reference
# and a Numba kernel.  The fast one is used when Numba is installed, unless
# MINICNN_NUMBA=0 is set or code runs inside `with backend.numpy_reference():`
# (tests use that to prove both give the same numbers).
_numba_wanted = os.environ.get("MINICNN_NUMBA", "1") != "0"
_numba_ok = None


def numba_enabled():
    """True when CPU ops should take their Numba fast path."""
    global _numba_ok
    if _numba_ok is None:
        try:
            import numba  # noqa: F401
            _numba_ok = True
        except ImportError:
            _numba_ok = False
    return _numba_wanted and _numba_ok


@contextlib.contextmanager
def numpy_reference():
    """Run CPU ops with their readable NumPy reference instead of the Numba kernels."""
    global _numba_wanted
    previous, _numba_wanted = _numba_wanted, False
    try:
        yield
    finally:
        _numba_wanted = previous
