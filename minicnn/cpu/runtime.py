"""The CPU runtime's set-up for minicnn's kernels: made once, by ``set_up()``, when the Numba
kernels load (minicnn/cpu/__init__.py), before any of them runs.

Numba runs its parallel loops on an OpenMP thread pool; NumPy's matrix products run on
OpenBLAS's own threads.  Both kinds of thread keep spinning for a while after their work,
on the cores the other needs next (measured: docs/benchmarks-history.md, rounds 3 and 4).
``set_up`` makes both sleep at once.  A value the user set is kept.

Under an MPI launcher (``mpiexec -n 2 python -m minicnn train``) several processes share
the machine; left alone, each one's BLAS and Numba start a thread per core, and the
processes fight over the cores (2.8 s per epoch against 1.1 s, issue 28).  ``set_up``
gives each process its share instead, ``max(1, cores // processes on this machine)``,
unless the user chose (see ``rank_thread_counts``).

Why here and not in ``minicnn.distributed.init_process_group``: the count of processes on
this machine is in the launcher's environment, so no MPI call is needed; a script run
under mpiexec that never joins a process group (each process evaluating its own share of
checkpoints, say) needs it just as much; and this is the one place that sets up the
threads of this process, before its first kernel.  (Without Numba this module never
loads, and BLAS keeps its own choice.)
"""
import ctypes
import functools
import os
import sys

import numba

_done = False
cores_for_this_process = None    # set by set_up under an MPI launcher: this process's share

# How many processes of the job run on this machine, as each launcher says it, first found
# wins: MPICH's Hydra (also Intel MPI), Open MPI, MVAPICH2, Slurm's srun.
LOCAL_PROCESS_COUNT_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE",
                                 "MV2_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")
# This process's number among them (the log line is printed by the first only).
LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK",
                        "MV2_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


def set_up():
    """Make OpenMP's and OpenBLAS's idle threads sleep at once (once per process)."""
    global _done
    if not _done:
        _done = True
        _omp_threads_sleep_when_idle()
        _blas_threads_sleep_when_idle()
        _share_cores_between_processes()


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


def _positive_int(text):
    try:
        value = int(text)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def rank_thread_counts(environ, cores):
    """How many threads NumPy's BLAS and Numba should use in this process, decided from the
    environment: a dict {"processes", "share", "blas", "numba"}, or None outside an MPI
    launcher (or with one process on this machine): then nothing is changed.

    ``share`` = max(1, cores // processes on this machine).  An explicit setting wins:
    ``blas`` is None (left to OpenBLAS, which reads them itself) when OPENBLAS_NUM_THREADS
    or OMP_NUM_THREADS is set; ``numba`` is NUMBA_NUM_THREADS when set (None: Numba read it
    itself), else OMP_NUM_THREADS (which Numba ignores, but the user meant every library),
    else the share.

    Example::

        >>> rank_thread_counts({"MPI_LOCALNRANKS": "2"}, cores=8)
        {'processes': 2, 'share': 4, 'blas': 4, 'numba': 4}
        >>> rank_thread_counts({"MPI_LOCALNRANKS": "2", "OMP_NUM_THREADS": "1"}, cores=8)
        {'processes': 2, 'share': 4, 'blas': None, 'numba': 1}
        >>> rank_thread_counts({}, cores=8) is None      # not under mpiexec
        True
    """
    processes = next((_positive_int(environ[name]) for name in LOCAL_PROCESS_COUNT_VARIABLES
                      if name in environ), None)
    if processes is None or processes < 2:
        return None
    share = max(1, cores // processes)
    explicit_omp = _positive_int(environ.get("OMP_NUM_THREADS"))
    blas_chosen = "OPENBLAS_NUM_THREADS" in environ or "OMP_NUM_THREADS" in environ
    if "NUMBA_NUM_THREADS" in environ:
        numba_threads = None
    else:
        numba_threads = explicit_omp or share
    return {"processes": processes, "share": share,
            "blas": None if blas_chosen else share, "numba": numba_threads}


def machine_cores():
    """The cores this process may run on (its affinity), whatever its share."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@functools.lru_cache(maxsize=None)
def blas_thread_setters():
    """(get, set) of the thread count of each OpenBLAS this process has loaded; the names
    differ between builds (NumPy's wheels prefix them with scipy_ and suffix 64_)."""
    setters = []
    for path in loaded_openblas():
        library = ctypes.CDLL(path)
        for get, set_ in (("openblas_get_num_threads", "openblas_set_num_threads"),
                          ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_")):
            if hasattr(library, get) and hasattr(library, set_):
                setters.append((getattr(library, get), getattr(library, set_)))
                break
    return tuple(setters)


def _share_cores_between_processes():
    """Apply ``rank_thread_counts`` to this process (see the module's docstring)."""
    global cores_for_this_process
    cores = machine_cores()
    counts = rank_thread_counts(os.environ, cores)
    if counts is None:
        return
    if counts["blas"] is not None:
        for _, set_threads in blas_thread_setters():
            set_threads(counts["blas"])
    if counts["numba"] is not None:
        numba.set_num_threads(min(counts["numba"], numba.config.NUMBA_NUM_THREADS))
    # minicnn's own pool of convolution workers (threads.map_chunks) takes Numba's count
    cores_for_this_process = numba.get_num_threads()
    local_rank = next((os.environ[name] for name in LOCAL_RANK_VARIABLES if name in os.environ), "0")
    if local_rank == "0":
        blas = (f"{counts['blas']}" if counts["blas"] is not None else "as set by "
                + ("OPENBLAS_NUM_THREADS" if "OPENBLAS_NUM_THREADS" in os.environ else "OMP_NUM_THREADS"))
        hint = "" if blas.startswith("as set") else " (OMP_NUM_THREADS=N sets another count)"
        print(f"minicnn: {counts['processes']} processes share this machine's {cores} "
              f"cores: threads per process: BLAS {blas}, Numba {numba.get_num_threads()}{hint}",
              file=sys.stderr)
