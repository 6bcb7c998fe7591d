"""Each process under ``mpiexec -n 2`` takes its share of the cores (minicnn/cpu/runtime.py):
writes what it got to FOLDER/rank<r>.json (a file per process: the launcher may mix the two
processes' printed lines); tests/test_distributed.py compares it with the decision for its
environment.

    mpiexec -n 2 python tests/mpi_scripts/thread_share.py FOLDER
"""
import json
import os
import sys

import numba

import minicnn.cpu  # noqa: F401  (loading the Numba kernels runs the set-up)
import minicnn.distributed as dist
from minicnn.cpu import runtime, threads

dist.init_process_group("mpi")
blas = [get() for get, _ in threads._blas_thread_setters()]
report = {"rank": dist.get_rank(), "numba": numba.get_num_threads(), "blas": blas,
          "pool_cores": threads.cores(), "machine_cores": len(os.sched_getaffinity(0))}
with open(os.path.join(sys.argv[1], f"rank{report['rank']}.json"), "w") as f:
    json.dump(report, f)
