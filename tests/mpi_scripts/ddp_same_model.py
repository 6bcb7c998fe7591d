"""DistributedDataParallel refuses models whose parameters differ across processes, even
when the total sizes match (they would be averaged as unrelated numbers), with the same
error on every rank, as PyTorch's DDP.

    mpiexec -n 2 python tests/mpi_scripts/ddp_same_model.py
"""
import minicnn.distributed as dist
from minicnn import nn
from minicnn.nn.parallel import DistributedDataParallel
from common import ok

dist.init_process_group("mpi")
rank = dist.get_rank()


def refused(model, *fragments):
    try:
        DistributedDataParallel(model)
    except RuntimeError as error:
        message = str(error)
        assert all(f in message for f in fragments), message
        return True
    return False


# 6 weights + 2 biases on both ranks: Linear(3, 2) and Linear(2, 3) have the same total size
transposed = nn.Linear(3, 2) if rank == 0 else nn.Linear(2, 3)
assert refused(transposed, "same model on every process", "rank 1's parameter 'weight'",
               "shape (3, 2)", "rank 0's parameter 'weight' (shape (2, 3)")
ok("shapes differ, total size equal")

extra = nn.Sequential(nn.Linear(2, 2)) if rank == 0 else nn.Sequential(nn.Linear(2, 2),
                                                                         nn.ReLU(), nn.Linear(2, 1))
assert refused(extra, "rank 0 has 2 parameters and buffers and rank 1 has 4")
ok("parameter counts differ")

assert refused(nn.Linear(2, 2).double() if rank == 1 else nn.Linear(2, 2), "float64", "float32")
ok("dtypes differ")

assert not refused(nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)))   # the same: accepted
ok("the same model is accepted")
