"""all_reduce (every op, in place, views, integers, Tensors, non-blocking), broadcast,
all_gather_object, barrier, the node-local rank, and the host-staging transport (with
numpy.copy standing in for the GPU-to-host copy), across 2 processes.

    mpiexec -n 2 python tests/mpi_scripts/collectives.py
"""
import numpy as np

import minicnn as mc
import minicnn.distributed as dist
from common import ok

dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert world == 2 and dist.get_node_local_rank() == rank    # one machine
values = {0: np.array([1.0, -2.0, 5.0]), 1: np.array([3.0, 4.0, -1.0])}
expected = {"sum": [4.0, 2.0, 4.0], "avg": [2.0, 1.0, 2.0], "max": [3.0, 4.0, 5.0],
            "min": [1.0, -2.0, -1.0]}
for op, result in expected.items():
    a = values[rank].copy()
    assert dist.all_reduce(a, op=op) is None
    np.testing.assert_array_equal(a, result, err_msg=op)
ok("all_reduce ops")

ints = np.array([rank + 1, 10 * rank], dtype=np.int64)
dist.all_reduce(ints)
assert ints.dtype == np.int64 and ints.tolist() == [3, 10]
t = mc.tensor(values[rank])
dist.all_reduce(t, op=dist.ReduceOp.MAX)
np.testing.assert_array_equal(t.numpy(), expected["max"])
grid = np.full((3, 4), float(rank + 1))
dist.all_reduce(grid[:, ::2])           # a strided view: only its elements change
np.testing.assert_array_equal(grid[:, ::2], 3.0)
np.testing.assert_array_equal(grid[:, 1::2], rank + 1)
a = values[rank].copy()
work = dist.all_reduce(a, op="avg", async_op=True)
work.wait()
np.testing.assert_array_equal(a, expected["avg"])
ok("all_reduce integers, tensors, views, async")

b = np.arange(4.0) * (rank + 1)
dist.broadcast(b, src=1)
np.testing.assert_array_equal(b, np.arange(4.0) * 2)
gathered = [None] * world
dist.all_gather_object(gathered, {"rank": rank})
assert gathered == [{"rank": 0}, {"rank": 1}]
dist.barrier()
ok("broadcast, all_gather_object, barrier")

group = dist._require()
staging = dist._HostStaging(group.mpi, to_host=np.copy)
device = values[rank][::-1].copy()      # stands in for a GPU array
staging.all_reduce(device, "sum").wait()
np.testing.assert_array_equal(device, np.array(expected["sum"])[::-1])
staging.broadcast(device, src=0)
np.testing.assert_array_equal(device, np.array(expected["sum"])[::-1])
device = np.full(2, float(rank))
staging.broadcast(device, src=1)
np.testing.assert_array_equal(device, [1.0, 1.0])
ok("host staging")
