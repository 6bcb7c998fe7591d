"""The CPU runtime's set-up for minicnn's kernels: made once, by ``set_up()``, when the Numba
kernels load (minicnn/cpu/__init__.py), before any of them runs.

Numba runs its parallel loops on an OpenMP thread pool; NumPy's matrix products run on
OpenBLAS's own threads.  Both kinds of thread keep spinning for a while after their work,
on the cores the other needs next (measured: docs/benchmarks-history.md, rounds 3 and 4).
``set_up`` makes both sleep at once.  A value the user set is kept.
"""
import ctypes
import os
import sys

import numba

_done = False


def set_up():
    """Make OpenMP's and OpenBLAS's idle threads sleep at once (once per process)."""
    global _done
    if not _done:
        _done = True
        _omp_threads_sleep_when_idle()
        _blas_threads_sleep_when_idle()


def _omp_threads_sleep_when_idle():
    """OMP_WAIT_POLICY=PASSIVE, read when OpenMP's library loads: Numba loads it after this,
    unless PyTorch was imported first -- its OpenMP library has the same name and Numba then
    shares it, with the policy it started with.  In that case Numba gets its own plain
    thread pool ("workqueue", as fast here; it must not be entered from two Python threads
    at once, and minicnn's DataLoader thread runs no Numba kernels)."""
    if "OMP_WAIT_POLICY" not in os.environ:
        if "torch" in sys.modules:
            numba.config.THREADING_LAYER = "workqueue"
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"


def loaded_openblas():
    """Paths of the OpenBLAS libraries this process has loaded (NumPy's wheel bundles one)."""
    try:
        with open("/proc/self/maps") as maps:         # Linux; elsewhere nothing is changed
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return []
    return sorted(p for p in paths if p.startswith("/") and ".so" in p)


def _blas_threads_sleep_when_idle():
    """After each matrix product OpenBLAS's threads spin for 2**28 clock ticks (about 0.1 s)
    before they sleep, so the Numba kernel that follows (im2col after the forward product,
    col2im after the backward one) shares a core with a thread that has nothing to do.
    OPENBLAS_THREAD_TIMEOUT (a power of two; 4 is its least) is read when OpenBLAS starts its
    threads, which NumPy did long before: so set it, have OpenBLAS read it again, and stop
    its threads; the next product starts them anew with the short timeout."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "4"
    for path in loaded_openblas():
        library = ctypes.CDLL(path)
        if hasattr(library, "openblas_read_env") and hasattr(library, "blas_thread_shutdown_"):
            library.openblas_read_env()           # newer OpenBLAS keeps the value from here;
            library.blas_thread_shutdown_()       # older ones read the variable on restart
