"""``DistributedDataParallel``: one model per process, gradients averaged over the processes.

    import minicnn.distributed as dist
    dist.init_process_group("mpi")
    model = DistributedDataParallel(model)     # every process now holds rank 0's weights
    for images, labels in loader:              # each process its own share of the data
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()                        # every .grad: the average over the processes
        optimizer.step()                       # the same step everywhere: weights stay equal

N processes with batch B each then compute the gradient of one batch of N*B (the mean of
the N mean losses is the mean loss of the whole batch).

How the averaging overlaps backward.  The parameters are grouped into *buckets* of about
``bucket_cap_mb`` megabytes, in reverse order of registration: roughly the order in which
backward finishes their gradients (the last layer first).  A hook on every parameter
(``register_post_accumulate_grad_hook``) notes when its gradient is final.  Once a bucket is
complete, its gradients are copied into one flat array and a non-blocking all-reduce starts
(MPI ``Iallreduce``) while backward goes on with the earlier layers.  Buckets start in bucket
order, so every process issues its collectives in the same order, as MPI requires.  The hook
that completes the last bucket waits for all of them and writes the averages back into the
``.grad`` arrays: when ``loss.backward()`` returns, every gradient is averaged.

Every parameter that requires grad must receive a gradient in each backward pass, or its
bucket never completes; the next forward then names the parameters that got none (PyTorch
stops the same way unless ``find_unused_parameters=True``, which minicnn does not have).
Freeze such parameters with ``requires_grad_(False)`` before wrapping the model.
"""
import contextlib

from .. import distributed as dist
from ..autograd import is_grad_enabled
from .. import backend
from .module import Module


class DistributedDataParallel(Module):
    """One model per process, gradients averaged over the processes.

    Wrap ``module`` (PyTorch's name and meaning; the wrapped model is ``.module`` and the
    state-dict keys start with ``module.``), as
    ``torch.nn.parallel.DistributedDataParallel``. Wrapping copies rank 0's parameters and
    buffers to every process; each ``loss.backward()`` then leaves in every ``.grad`` the
    average over the processes, so the same optimizer step keeps the weights equal
    everywhere.  The averaging overlaps backward: gradients are all-reduced in buckets of
    about ``bucket_cap_mb`` as soon as a bucket's gradients are final.  Every parameter that
    requires grad must receive a gradient in each backward pass (freeze unused ones with
    ``requires_grad_(False)`` before wrapping).  ``no_sync()`` accumulates gradients locally
    instead.  Needs a process group: ``minicnn.distributed.init_process_group()`` first.

    Args:
        module (Module): the model to replicate.
        broadcast_buffers (bool, optional): before each forward with gradients enabled, copy
            rank 0's buffers (BatchNorm running statistics) to every process, so all
            evaluate the same model. Default: ``True``
        bucket_cap_mb (float, optional): the size of the gradient buckets, in megabytes
            (2**20 bytes). Default: ``25``

    Example::

        >>> import minicnn.distributed as dist
        >>> dist.init_process_group("mpi")      # without mpiexec: a world of one process
        >>> model = nn.parallel.DistributedDataParallel(nn.Linear(4, 2))
        >>> model
        DistributedDataParallel(
          (module): Linear(in_features=4, out_features=2, bias=True)
        )
        >>> model(mc.tensor(np.ones((3, 4), np.float32))).sum().backward()
        >>> model.module.weight.grad.shape       # averaged over the processes
        (2, 4)
        >>> list(model.state_dict())
        ['module.weight', 'module.bias']
        >>> dist.destroy_process_group()
    """

    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25):
        super().__init__()
        if not dist.is_initialized():
            raise RuntimeError("minicnn: DistributedDataParallel needs a process group; call "
                               "minicnn.distributed.init_process_group() first")
        if not isinstance(module, Module):
            raise TypeError(f"minicnn: DistributedDataParallel wraps a Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True   # False inside no_sync()
        self._sync_this_backward = True          # what the last forward decided
        _check_same_model_everywhere(module)
        _broadcast_from_rank0(list(module.parameters()) + list(module.buffers()))
        params = [p for p in module.parameters() if p.requires_grad]
        self._names = {id(p): name for name, p in module.named_parameters()}
        self._buckets = _make_buckets(params[::-1], bucket_cap_mb * 2 ** 20)
        self._bucket_of = {id(p): bucket for bucket in self._buckets for p in bucket.params}
        self._next_bucket = 0                    # the next bucket to start
        for p in params:
            p.register_post_accumulate_grad_hook(self._gradient_ready)

    def forward(self, *args, **kwargs):
        self._check_previous_reduction()
        if is_grad_enabled():
            self._sync_this_backward = self.require_backward_grad_sync
            if self.broadcast_buffers:
                _broadcast_from_rank0(list(self.module.buffers()))
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Gradients of forward passes run inside this block accumulate locally, without
        communication (gradient accumulation); the first backward of a forward outside it
        averages the accumulated gradients."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ----- the gradient hooks --------------------------------------------------------------
    def _gradient_ready(self, param):
        """Called by backward after it has added into ``param.grad``."""
        if not self._sync_this_backward:
            return
        self._bucket_of[id(param)].ready.add(id(param))
        buckets = self._buckets
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].is_complete():
            buckets[self._next_bucket].start()
            self._next_bucket += 1
        if self._next_bucket < len(buckets):
            for bucket in buckets[:self._next_bucket]:
                bucket.work.is_completed()        # lets MPI move the data along meanwhile
            return
        for bucket in buckets:                    # the last gradient: finish them all
            bucket.finish()
        self._next_bucket = 0

    def _check_previous_reduction(self):
        if any(bucket.ready for bucket in self._buckets):
            missing = [self._names[id(p)] for bucket in self._buckets for p in bucket.params
                       if id(p) not in bucket.ready]
            raise RuntimeError(
                "minicnn: DistributedDataParallel: the previous backward pass produced no "
                f"gradient for {len(missing)} parameter(s) that require grad "
                f"({', '.join(missing)}), "
                "so their gradients could not be averaged.  Make every parameter take part in "
                "the loss, or freeze the unused ones with requires_grad_(False) before wrapping.")


class _Bucket:
    """A group of parameters whose gradients are averaged by one all-reduce."""

    def __init__(self, params):
        self.params, self.ready, self.flat, self.work = params, set(), None, None

    def is_complete(self):
        return len(self.ready) == len(self.params)

    def start(self):
        self.flat = _flatten([p.grad.data for p in self.params])
        self.work = dist.all_reduce(self.flat, op=dist.ReduceOp.AVG, async_op=True)

    def finish(self):
        self.work.wait()
        _unflatten_into(self.flat, [p.grad.data for p in self.params])
        self.ready, self.flat, self.work = set(), None, None


def _make_buckets(params, cap_bytes):
    """Consecutive parameters of one dtype and device, up to ``cap_bytes`` per bucket
    (a larger parameter gets a bucket of its own)."""
    buckets, current, size = [], [], 0
    for p in params:
        same_kind = current and (p.dtype, p.device) == (current[0].dtype, current[0].device)
        if current and (not same_kind or size + p.data.nbytes > cap_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += p.data.nbytes
    return buckets + ([_Bucket(current)] if current else [])


def _check_same_model_everywhere(module):
    """Every process's parameters and buffers have rank 0's names, shapes and dtypes, as
    PyTorch's DDP checks: otherwise the flat broadcasts and all-reduces would silently mix
    unrelated values wherever the total sizes happen to match.  Every rank sees every
    rank's list, so all of them raise the same error (none is left waiting)."""
    mine = [(kind, name, tuple(t.shape), str(t.dtype))
            for kind, named in (("parameter", module.named_parameters()),
                                ("buffer", module.named_buffers()))
            for name, t in named]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    for rank, theirs in enumerate(everyone[1:], start=1):
        if theirs == everyone[0]:
            continue
        for ours, other in zip(everyone[0], theirs):
            if ours != other:
                raise RuntimeError(
                    f"minicnn: DistributedDataParallel expects the same model on every process, "
                    f"but rank {rank}'s {other[0]} {other[1]!r} (shape {other[2]}, {other[3]}) "
                    f"does not match rank 0's {ours[0]} {ours[1]!r} (shape {ours[2]}, {ours[3]})")
        raise RuntimeError(
            f"minicnn: DistributedDataParallel expects the same model on every process, but "
            f"rank 0 has {len(everyone[0])} parameters and buffers and rank {rank} has {len(theirs)}")


def _broadcast_from_rank0(tensors):
    """Overwrite ``tensors`` with rank 0's values: one broadcast per dtype and device, of
    all of them flattened into one array."""
    groups = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    for group in groups.values():
        flat = _flatten([t.data for t in group])
        dist.broadcast(flat, src=0)
        _unflatten_into(flat, [t.data for t in group])


def _flatten(arrays):
    """One 1-d array holding all of ``arrays``, one after the other (a copy)."""
    xp = backend.get_array_module(arrays[0])
    return xp.concatenate([a.ravel() for a in arrays])


def _unflatten_into(flat, arrays):
    """The inverse of ``_flatten``: copy the pieces of ``flat`` back into ``arrays``."""
    offset = 0
    for a in arrays:
        a[...] = flat[offset:offset + a.size].reshape(a.shape)
        offset += a.size
