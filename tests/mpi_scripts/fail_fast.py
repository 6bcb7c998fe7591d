"""Rank 1 raises while rank 0 waits in an all-reduce: the whole job must stop at once with a
non-zero status (the process group's excepthook calls MPI_Abort), not hang.

    mpiexec -n 2 python tests/mpi_scripts/fail_fast.py
"""
import numpy as np

import minicnn.distributed as dist

dist.init_process_group("mpi")
if dist.get_rank() == 1:
    raise RuntimeError("planned failure on rank 1")
dist.all_reduce(np.ones(3))             # never completes: rank 1 is gone
print("rank 0 finished the all-reduce: it should have been aborted", flush=True)
