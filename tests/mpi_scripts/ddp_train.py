"""2 processes with batch B each (DistributedDataParallel, optionally SyncBatchNorm) train
exactly like 1 process with batch 2B: outputs, input and parameter gradients, running
statistics and parameters after several SGD-momentum steps agree to 1e-10 in float64.

    mpiexec -n 2 python tests/mpi_scripts/ddp_train.py [--sync-bn]
"""
import sys

import numpy as np

import minicnn as mc
import minicnn.distributed as dist
import minicnn.functional as F
from minicnn import nn, optim
from minicnn.nn.parallel import DistributedDataParallel
from common import B, check_close, global_batch, my_rows, ok, same_on_every_rank, small_cnn

sync_bn = "--sync-bn" in sys.argv
dist.init_process_group("mpi")
rank, world = dist.get_rank(), dist.get_world_size()

mc.manual_seed(rank)                    # different weights on each rank: DDP must copy rank 0's
model = small_cnn(batch_norm=sync_bn)
if sync_bn:
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules()) == 2
reference = small_cnn(batch_norm=sync_bn)               # one process, batch world * B
# buckets of at most 400 bytes: several all-reduces per step, in flight together
ddp = DistributedDataParallel(model, bucket_cap_mb=400 / 2 ** 20)
assert len(ddp._buckets) > 2, ddp._buckets
same_on_every_rank(model.state_dict().values(), "weights after DistributedDataParallel()")
reference.load_state_dict(model.state_dict())
assert list(ddp.state_dict()) == ["module." + k for k in reference.state_dict()]
ok("broadcast at construction")

opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
ref_opt = optim.SGD(reference.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
ref_params = dict(reference.named_parameters())
for step in range(4):
    x, y = global_batch(world * B, seed=step)
    mine = mc.tensor(x[my_rows()], requires_grad=True)
    ref_x = mc.tensor(x, requires_grad=True)
    out, ref_out = ddp(mine), reference(ref_x)
    check_close(out, ref_out.numpy()[my_rows()], f"step {step} outputs")
    opt.zero_grad()
    ref_opt.zero_grad()
    F.cross_entropy(out, mc.tensor(y[my_rows()])).backward()
    F.cross_entropy(ref_out, mc.tensor(y)).backward()
    # each process's loss is the mean over B, the reference's over world * B
    check_close(mine.grad.numpy() / world, ref_x.grad.numpy()[my_rows()],
                f"step {step} input grads")
    for name, p in model.named_parameters():
        check_close(p.grad, ref_params[name].grad, f"step {step} grad of {name}")
    opt.step()
    ref_opt.step()
for name, t in reference.state_dict().items():
    check_close(model.state_dict()[name], t, f"{name} after 4 steps")
same_on_every_rank(model.state_dict().values(), "weights after 4 steps")
ok("sync-bn training" if sync_bn else "ddp training")

if sync_bn:
    # Uneven batches (3 and 5 images), a large mean (two-pass variance) and a sum loss with a
    # random upstream gradient: input gradients and running statistics as one batch of 8.
    sizes = [3, 5]
    rows = slice(sum(sizes[:rank]), sum(sizes[:rank + 1]))
    rng = np.random.default_rng(7)
    x, g = 1e4 + rng.normal(size=(8, 3, 2, 2)), rng.normal(size=(8, 3, 2, 2))
    layer, ref_layer = nn.SyncBatchNorm(3).double(), nn.BatchNorm2d(3).double()
    for bn in (layer, ref_layer):
        bn.weight.data[...] = [0.5, 2.0, -1.0]
    mine, ref_x = mc.tensor(x[rows], requires_grad=True), mc.tensor(x, requires_grad=True)
    out, ref_out = layer(mine), ref_layer(ref_x)
    (out * mc.tensor(g[rows])).sum().backward()
    (ref_out * mc.tensor(g)).sum().backward()
    check_close(out, ref_out.numpy()[rows], "uneven: outputs")
    check_close(mine.grad, ref_x.grad.numpy()[rows], "uneven: input grads")
    for name in ("weight", "bias"):           # local sums; their sum over ranks is the whole
        total = getattr(layer, name).grad.numpy().copy()
        dist.all_reduce(total)
        check_close(total, getattr(ref_layer, name).grad, f"uneven: {name} grad")
    for name in ("running_mean", "running_var"):
        check_close(getattr(layer, name), getattr(ref_layer, name), f"uneven: {name}")
    ok("sync-bn uneven batches")
