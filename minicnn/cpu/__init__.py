"""Numba fast paths for CPU kernels, one module per op file in minicnn/functional/.

Each fast path takes the same arguments as its readable NumPy reference and must
give the same numbers (the tests check both).  Each registers itself with
``minicnn.dispatch``, which imports this package on first use, and only when
``backend.numba_enabled()``: minicnn also works without Numba.
"""
from . import runtime

runtime.set_up()       # before the first kernel: how idle threads wait (see runtime.py)

from . import activation, conv, depthwise, norm, optim, pool, threads, winograd  # noqa: E402,F401  (importing them registers their kernels)
