"""Numba fast paths for CPU kernels, one module per op file in minicnn/functional/.

Each fast path takes the same arguments as its readable NumPy reference and must
give the same numbers (the tests check both).  Ops import these modules lazily and
only when ``backend.numba_enabled()``, so minicnn also works without Numba.
"""
