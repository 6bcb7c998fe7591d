"""Numba fast paths for CPU kernels, one module per op file in minicnn/functional/.

Each fast path takes the same arguments as its readable NumPy reference and must
give the same numbers (the tests check both).  Each registers itself with
``minicnn.dispatch``, which imports this package on first use, and only when
``backend.numba_enabled()``: minicnn also works without Numba.
"""
from . import activation, conv, norm, pool  # noqa: F401  (importing them registers their kernels)
