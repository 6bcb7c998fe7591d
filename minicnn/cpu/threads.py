"""Image-parallel convolution on the CPU: one thread per core, each with single-threaded BLAS.

Left to themselves, NumPy's BLAS and Numba each split every call across the cores: one
im2col, then one matrix product, of one chunk of images at a time.  On the small products
of early layers that keeps BLAS below its speed, and every call wakes the other core's
sleeping thread.  Giving each core whole chunks of images instead -- its own im2col, its
own single-threaded product -- keeps both cores busy with no hand-offs (measured:
docs/benchmarks-history.md, round 4).  This is the Numba-path "map_chunks" kernel of
minicnn/functional/columns.py.

``map_chunks(work, parts)`` runs ``work(part)`` for every part on the pool and returns the
results in order; inside a worker, ``in_worker()`` is true and the Numba im2col/col2im run
their serial twins (minicnn/cpu/conv.py).  It returns None where it cannot help: one core,
fewer parts than cores, no OpenBLAS whose threads it can set, or already inside a worker.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

from .. import dispatch
from . import runtime
from .runtime import blas_thread_setters as _blas_thread_setters

_local = threading.local()
_pool = None
_pool_lock = threading.Lock()


def in_worker():
    """True on a thread of the pool (whose kernels must stay single-threaded)."""
    return getattr(_local, "worker", False)


def _mark_worker():
    _local.worker = True


def cores():
    """The cores this process may use: its share under an MPI launcher (runtime.py), else all
    it may run on."""
    if runtime.cores_for_this_process is not None:
        return runtime.cores_for_this_process
    return runtime.machine_cores()


@dispatch.register("map_chunks", "numba")
def map_chunks_numba(work, parts):
    """[work(part) for part in parts], on one thread per core where that helps, else in turn."""
    results = map_chunks(work, parts)
    return results if results is not None else [work(part) for part in parts]


def map_chunks(work, parts):
    """[work(part) for part in parts], computed on one thread per core with BLAS single-threaded;
    None if that cannot be done here (the caller then runs the loop itself)."""
    global _pool
    workers = cores()
    setters = _blas_thread_setters()
    if workers < 2 or len(parts) < workers or not setters or in_worker():
        return None
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="minicnn-conv", initializer=_mark_worker)
    before = [get() for get, _ in setters]
    for _, set_ in setters:
        set_(1)
    try:
        return list(_pool.map(work, parts))
    finally:
        for (_, set_), n in zip(setters, before):
            set_(n)
