"""Which implementation of a hot array kernel runs: the one place that decides.

Some array-level kernels (im2col, col2im, pooling, batch norm's statistics, sums and
elementwise parts, LRN, ReLU, dropout's masking) have up to three implementations with
the same signature:

    "numpy"  the readable reference, next to its op in minicnn/functional/
    "numba"  a CPU fast path in minicnn/cpu/
    "cuda"   a method of ``minicnn.cuda.launch.KernelOps``, launching kernels/*.cu

Each implementation registers itself where it is defined::

    @dispatch.register("col2im", "numba")
    def col2im_numba(col, input_shape, kernel_size, stride, padding, dilation): ...

and an op asks for the one to run on its array::

    col2im = dispatch.kernel("col2im", col)   # CuPy -> "cuda"; NumPy -> "numba" or "numpy"

NumPy arrays take the Numba kernel when one exists and ``backend.numba_enabled()``
(``MINICNN_NUMBA=0`` or ``with backend.numpy_reference():`` turn it off), else the
reference; so do float16 arrays (Numba has no float16).  CuPy arrays take the "cuda"
kernel, or the reference for the few kernels in ``REFERENCE_ON_GPU``.  The fast versions' modules are
imported on first use only.  ``implementations("col2im")`` lists them all (tests use it to check that
every fast version agrees with its reference).
"""
import importlib

import numpy as np

from . import backend

KINDS = ("numpy", "numba", "cuda")
_registry = {}      # kernel name -> {kind: function}
# Where the fast versions register themselves; imported on first use only, because Numba
# takes a second to import and CUDA needs CuPy.  minicnn/cpu/__init__.py imports every
# Numba module; minicnn/cuda/launch.py defines every CUDA one.
_FAST_MODULES = {"numba": "minicnn.cpu", "cuda": "minicnn.cuda"}
_loaded = set()
# Kernels with no CUDA version: on CuPy arrays their reference runs (it is written with
# backend.get_array_module, and CuPy fuses nothing, but these are a few passes over memory
# the GPU makes fast anyway).  Any other kernel without one is an error.
REFERENCE_ON_GPU = {
    "sgd_update": "an optimizer's elementwise update: a few CuPy array expressions",
    "adam_update": "an optimizer's elementwise update: a few CuPy array expressions",
    "rmsprop_update": "an optimizer's elementwise update: a few CuPy array expressions",
}
# The "cuda" kernels are methods: the object they run on comes from minicnn/cuda, which
# names its maker here when it loads (so this module imports nothing from above it).
_cuda_ops = None


def provide_cuda_ops(make_ops):
    """Called by minicnn/cuda: ``make_ops()`` returns this process's ``KernelOps``."""
    global _cuda_ops
    _cuda_ops = make_ops


def register(name, kind):
    """Decorator: record ``function`` as the ``kind`` implementation of kernel ``name``."""
    if kind not in KINDS:
        raise ValueError(f"minicnn: dispatch.register: kind must be one of {KINDS}, got {kind!r}")

    def add(function):
        _registry.setdefault(name, {})[kind] = function
        return function
    return add


def _load(kind):
    """Import the module whose definitions register the ``kind`` kernels (once)."""
    if kind in _FAST_MODULES and kind not in _loaded:
        _loaded.add(kind)
        try:
            importlib.import_module(_FAST_MODULES[kind])
        except ImportError:       # Numba not installed: the references stay
            if kind != "numba":
                raise


def _load_all():
    for kind in _FAST_MODULES:
        _load(kind)


def names():
    """Every kernel that has a registered implementation, sorted."""
    _load_all()
    return sorted(_registry)


def implementations(name):
    """Every registered implementation of kernel ``name``: {"numpy": f, "numba": f, "cuda": f}.

    The "cuda" entry is an unbound ``KernelOps`` method (it runs on a ``KernelOps``).
    """
    _load_all()
    if name not in _registry:
        raise KeyError(f"minicnn: no kernel named {name!r}; known: {sorted(_registry)}")
    return {kind: _registry[name][kind] for kind in KINDS if kind in _registry[name]}


def kernel(name, array):
    """The implementation of kernel ``name`` to run on ``array`` (see the module docstring)."""
    if backend.get_array_module(array) is not np:
        if name in REFERENCE_ON_GPU:
            return _registry[name]["numpy"]
        _load("cuda")
        # the method of this process's KernelOps (looked up by name: tests may wrap it)
        return getattr(_cuda_ops(), _registry[name]["cuda"].__name__)
    # Numba has no float16: a float16 array takes the NumPy reference, which computes it
    # (as PyTorch does on the CPU) instead of failing deep inside Numba's typing.
    if backend.numba_enabled() and array.dtype != np.float16:
        _load("numba")
        fast = _registry[name].get("numba")
        if fast is not None:
            return fast
    return _registry[name]["numpy"]
