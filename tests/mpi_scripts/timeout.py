"""A collective that another process never joins ends the job after the group's timeout
(a couple of seconds here), with a message naming the rank and the collective.

    mpiexec -n 2 python tests/mpi_scripts/timeout.py exit      # rank 1: sys.exit(0)
    mpiexec -n 2 python tests/mpi_scripts/timeout.py uneven    # DDP, rank 1 has fewer batches
    mpiexec -n 2 python tests/mpi_scripts/timeout.py barrier|broadcast|all_gather_object

The timeout comes from MINICNN_DIST_TIMEOUT, except in "uneven", which passes
init_process_group(timeout=timedelta(seconds=2)).
"""
import datetime
import sys

import numpy as np

import minicnn as mc
import minicnn.distributed as dist
import minicnn.functional as F
from minicnn import nn
from minicnn.nn.parallel import DistributedDataParallel

case = sys.argv[1]
if case == "uneven":
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=2))
else:
    dist.init_process_group("mpi")
rank = dist.get_rank()
print(f"rank {rank} timeout {dist._require().timeout:g}", flush=True)
if case == "exit":
    if rank == 1:
        sys.exit(0)                         # no excepthook sees a SystemExit
    dist.all_reduce(np.ones(3))
elif case == "uneven":
    model = DistributedDataParallel(nn.Linear(3, 2))
    for step in range(3 if rank == 0 else 2):
        model(mc.tensor(np.ones((4, 3), np.float32))).sum().backward()
        print(f"rank {rank} step {step} done", flush=True)
elif rank == 0:                             # rank 1 goes straight to the end
    if case == "barrier":
        dist.barrier()
    elif case == "broadcast":
        dist.broadcast(np.ones(3), src=1)
    elif case == "all_gather_object":
        dist.all_gather_object([None, None], {"rank": rank})
print(f"rank {rank} reached the end", flush=True)     # rank 0 must not: it was aborted
