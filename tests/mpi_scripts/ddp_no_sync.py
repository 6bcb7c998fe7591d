"""Gradient accumulation with DistributedDataParallel.no_sync(): the gradients of a forward
run inside the block stay local (they differ between the processes); the next synchronised
backward averages the accumulated sums, which then equal one process's gradients of both
micro-batches of 2B.

    mpiexec -n 2 python tests/mpi_scripts/ddp_no_sync.py
"""
import minicnn as mc
import minicnn.distributed as dist
import minicnn.functional as F
from minicnn.nn.parallel import DistributedDataParallel
from common import check_close, global_batch, my_rows, ok, small_cnn

dist.init_process_group("mpi")
world = dist.get_world_size()
model = small_cnn(batch_norm=False)
ddp = DistributedDataParallel(model, bucket_cap_mb=400 / 2 ** 20)
reference = small_cnn(batch_norm=False)
reference.load_state_dict(model.state_dict())

micro_batches = [global_batch(world * 4, seed) for seed in (10, 11)]
(x1, y1), (x2, y2) = micro_batches
with ddp.no_sync():                     # as in PyTorch, what counts is where forward ran
    loss = F.cross_entropy(ddp(mc.tensor(x1[my_rows()])), mc.tensor(y1[my_rows()]))
loss.backward()
local = [p.grad.numpy().copy() for p in model.parameters()]
# what this process alone computes: its own micro-batch, nothing averaged
alone = small_cnn(batch_norm=False)
alone.load_state_dict(model.state_dict())
F.cross_entropy(alone(mc.tensor(x1[my_rows()])), mc.tensor(y1[my_rows()])).backward()
for (name, p), g in zip(alone.named_parameters(), local):
    check_close(g, p.grad, f"no_sync: local grad of {name}", tol=0)
ok("no_sync keeps gradients local")

F.cross_entropy(ddp(mc.tensor(x2[my_rows()])), mc.tensor(y2[my_rows()])).backward()
ref_loss = sum(F.cross_entropy(reference(mc.tensor(x)), mc.tensor(y)) for x, y in micro_batches)
ref_loss.backward()
for (name, p), ref in zip(model.named_parameters(), reference.parameters()):
    check_close(p.grad, ref.grad, f"accumulated grad of {name}")
ok("accumulated gradients averaged")
