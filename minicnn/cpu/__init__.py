"""Numba fast paths for CPU kernels, one module per op file in minicnn/functional/.

Each fast path takes the same arguments as its readable NumPy reference and must
give the same numbers (the tests check both).  Each registers itself with
``minicnn.dispatch``, which imports this package on first use, and only when
``backend.numba_enabled()``: minicnn also works without Numba.
"""
import ctypes
import os
import sys

import numba

# Numba runs its parallel loops on an OpenMP thread pool; NumPy's matrix products run on
# OpenBLAS's own threads.  By default OpenMP's threads keep spinning for a while after each
# kernel, on the same cores the next matrix product needs (and OpenBLAS's threads do the
# same to the next kernel): measured on 2 cores, resnet18's training step at batch 4 took
# 1.5 s instead of 0.6 s, and one col2im 14 ms instead of 1 ms.  PASSIVE makes them sleep at
# once.  OpenMP reads it when its library loads: Numba loads it after this import, unless
# PyTorch was imported first -- its OpenMP library has the same name and Numba then shares
# it, with the policy it started with.  In that case Numba gets its own plain thread pool
# ("workqueue", as fast here; it must not be entered from two Python threads at once, and
# minicnn's DataLoader thread runs no Numba kernels).  A policy the user set is kept.
if "OMP_WAIT_POLICY" not in os.environ:
    if "torch" in sys.modules:
        numba.config.THREADING_LAYER = "workqueue"
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def _loaded_openblas():
    """Paths of the OpenBLAS libraries this process has loaded (NumPy's wheel bundles one)."""
    try:
        with open("/proc/self/maps") as maps:         # Linux; elsewhere nothing is changed
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/") and ".so" in p)


def _blas_threads_sleep_when_idle():
    """OpenBLAS's threads do the same as OpenMP's: after each matrix product they spin for
    2**28 clock ticks (about 0.1 s) before they sleep, so the Numba kernel that follows
    (im2col after the forward product, col2im after the backward one) shares a core with a
    thread that has nothing to do.  Measured on 2 cores, resnet18 at batch 16: im2col
    and col2im 510 -> 370 ms per training step, the step 2.2 -> 2.0 s.  OPENBLAS_THREAD_TIMEOUT
    (a power of two; 4 is its least) is read when OpenBLAS starts its threads, which NumPy did
    long before this import: so set it, have OpenBLAS read it again, and stop its threads;
    the next product starts them anew with the short timeout.  A value the user set is kept."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
    for path in _loaded_openblas():
        library = ctypes.CDLL(path)
        if hasattr(library, "openblas_read_env") and hasattr(library, "blas_thread_shutdown_"):
            library.openblas_read_env()           # newer OpenBLAS keeps the value from here;
            library.blas_thread_shutdown_()       # older ones read the variable on restart


_blas_threads_sleep_when_idle()

from . import activation, conv, norm, pool, winograd  # noqa: F401  (importing them registers their kernels)
