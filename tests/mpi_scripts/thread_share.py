"""Each process under ``mpiexec -n 2`` takes its share of the cores (minicnn/cpu/runtime.py):
prints what it got; tests/test_distributed.py compares it with the decision for its
environment.

    mpiexec -n 2 python tests/mpi_scripts/thread_share.py
"""
import json
import os

import numba

import minicnn.cpu  # noqa: F401  (loading the Numba kernels runs the set-up)
import minicnn.distributed as dist
from minicnn.cpu import runtime, threads

dist.init_process_group("mpi")
blas = [get() for get, _ in threads._blas_thread_setters()]
print(json.dumps({"rank": dist.get_rank(), "numba": numba.get_num_threads(), "blas": blas,
                  "pool_cores": threads.cores(),
                  "machine_cores": len(os.sched_getaffinity(0))}), flush=True)
