"""minicnn.distributed: processes that train together, over MPI (``torch.distributed``'s names).

    mpiexec -n 4 python train.py           # 4 processes; `python train.py` is a world of one

    import minicnn.distributed as dist
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    dist.all_reduce(grad)                   # in place: now the sum over all processes
    dist.broadcast(weight, src=0)           # in place: now rank 0's values everywhere

The processes are started by ``mpiexec``; MPI (through mpi4py) connects them.  mpi4py is
optional (``pip install -e ".[mpi]"`` installs it with MPICH): it is imported by
``init_process_group``, never by ``import minicnn``.

How an array travels (a "transport" per kind of array, all with the same methods):

  * NumPy: MPI straight from the array's memory (mpi4py's uppercase, buffer-based calls:
    no pickling, no copy for a contiguous array);
  * CuPy, one GPU per process and CuPy built with NCCL: NCCL, GPU to GPU;
  * CuPy otherwise: copied to host memory, MPI, copied back -- correct but slower (two
    PCIe copies per call, and the GPU waits for them).

Every process must make the same collective calls in the same order, or the job hangs;
an uncaught exception in any process therefore aborts the whole job (see
``init_process_group``).  A collective that has not completed after the group's timeout
(30 minutes by default, as PyTorch's; ``init_process_group(timeout=...)`` or the
``MINICNN_DIST_TIMEOUT`` environment variable, in seconds) ends the job with a message
naming the rank and the collective: a process that left early (``sys.exit``, which no
excepthook sees) or ran out of batches before the others would otherwise hang them.
"""
import datetime
import importlib.util
import os
import pickle
import sys
import time
import traceback

import numpy as np

from . import backend
from .autograd import Tensor

MPI_MISSING = ("minicnn.distributed: the 'mpi' backend needs mpi4py and an MPI library; "
               'install both with `pip install -e ".[mpi]"` (or `pip install mpi4py mpich`)')
# Environment variables that MPI launchers set (MPICH/Hydra and Intel MPI, Open MPI, PMIx, MVAPICH)
LAUNCHER_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")
DEFAULT_TIMEOUT = 1800.0                  # seconds a collective may wait: PyTorch's default
TIMEOUT_VARIABLE = "MINICNN_DIST_TIMEOUT"   # overrides it (seconds), unless init passes one


class ReduceOp:
    """``torch.distributed.ReduceOp``'s names; plain strings ("sum", ...) work as well."""
    SUM, AVG, MAX, MIN = "sum", "avg", "max", "min"


_group = None     # the default process group, once init_process_group has run


# ----- starting and stopping ---------------------------------------------------------
def is_available():
    """True when mpi4py is installed (checked without importing it)."""
    return importlib.util.find_spec("mpi4py") is not None


def launched_by_mpi():
    """True when this process was started by an MPI launcher (mpiexec, mpirun, srun)."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def abort_job(comm, status):
    """End every process of the job (``MPI_Abort``) after what this one wrote to stderr has
    reached mpiexec: it forwards each process's output from a pipe, and the abort tears its
    forwarders down at once (a failure's last line was lost in 2 runs of 7 without the pause)."""
    sys.stderr.flush()
    time.sleep(0.5)
    comm.Abort(status)


def init_process_group(backend="mpi", timeout=None):
    """Join the processes started by ``mpiexec`` (without it: a world of one, rank 0).

    With more than one process, an uncaught exception in any of them prints its traceback
    and then aborts the whole job (``MPI_Abort``): the others would otherwise wait forever
    in their next collective call.  ``timeout`` (a ``datetime.timedelta`` or seconds; default
    ``$MINICNN_DIST_TIMEOUT``, else 30 minutes, as PyTorch's) bounds every collective's
    wait: past it, the waiting rank prints which collective timed out and aborts the job.
    """
    global _group
    if backend not in ("mpi", None):
        raise ValueError(f"minicnn.distributed: unknown backend {backend!r}; minicnn supports "
                         "'mpi' (NCCL is used inside it for CuPy arrays when available)")
    timeout = _timeout_seconds(timeout)
    if _group is not None:
        raise RuntimeError("minicnn.distributed: init_process_group() was already called "
                           "(call destroy_process_group() first)")
    try:
        from mpi4py import MPI     # initialises MPI (and finalises it when Python exits)
    except ImportError as error:   # not installed, or installed without a working MPI library
        raise ImportError(f"{MPI_MISSING} ({error})") from error
    _group = _ProcessGroup(MPI, timeout)


def _timeout_seconds(timeout):
    """``timeout`` (timedelta, seconds or None: the environment's, else the default) in
    seconds; anything but a positive duration is a ValueError."""
    where = "timeout"
    if timeout is None:
        text = os.environ.get(TIMEOUT_VARIABLE)
        if text is None:
            return DEFAULT_TIMEOUT
        where, timeout = TIMEOUT_VARIABLE, text
        try:
            timeout = float(text)
        except ValueError:
            pass
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"minicnn.distributed: init_process_group: {where} must be a positive "
                         f"number of seconds or a datetime.timedelta, got {timeout!r}")
    return float(timeout)


def is_initialized():
    return _group is not None


def destroy_process_group():
    """Leave the process group (MPI itself stays initialised until Python exits)."""
    global _group
    if _group is not None:
        _group.close()
        _group = None


def _require():
    if _group is None:
        raise ValueError("minicnn.distributed: the default process group has not been "
                         "initialized; call minicnn.distributed.init_process_group() first")
    return _group


def get_rank():
    """This process's number, 0 .. world size - 1."""
    return _require().rank


def get_world_size():
    """How many processes take part."""
    return _require().size


def get_node_local_rank():
    """This process's number among the processes on the same machine (to choose its GPU)."""
    return _require().local_rank


# ----- collectives -------------------------------------------------------------------
def all_reduce(tensor, op=ReduceOp.SUM, async_op=False):
    """Replace ``tensor`` (a Tensor, NumPy or CuPy array) in place by the elementwise
    reduction of it over all processes: "sum", "avg" (floating point only), "max", "min".
    ``async_op=True`` returns a ``Work`` at once; its ``wait()`` says the result is there."""
    array = _array_of(tensor, "all_reduce")
    if op not in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN):
        raise ValueError(f"minicnn.distributed: all_reduce: unknown op {op!r}; expected "
                         "'sum', 'avg', 'max' or 'min'")
    if op == ReduceOp.AVG and array.dtype.kind != "f":
        raise TypeError(f"minicnn.distributed: all_reduce: op 'avg' needs a floating-point "
                        f"array, got {array.dtype}")
    group = _require()
    work = group.transport(array).all_reduce(array, ReduceOp.SUM if op == ReduceOp.AVG else op)
    if op == ReduceOp.AVG:    # MPI has no average: the sum, divided once it has arrived
        work.then(lambda: _divide(array, group.size))
    return work if async_op else work.wait()


def _divide(array, n):
    array /= n


def broadcast(tensor, src=0):
    """Replace ``tensor`` in place by process ``src``'s values."""
    array = _array_of(tensor, "broadcast")
    group = _require()
    if not 0 <= src < group.size:
        raise ValueError(f"minicnn.distributed: broadcast: src must be a rank in "
                         f"[0, {group.size - 1}], got {src}")
    group.transport(array).broadcast(array, src)


def barrier():
    """Wait until every process has reached this call."""
    group = _require()
    group.wait(group.comm.Ibarrier(), "barrier")


def all_gather_object(object_list, obj):
    """Fill ``object_list`` (of length world size) with every process's ``obj``, in rank
    order, as ``torch.distributed.all_gather_object``.  Objects are pickled: fine for
    results such as each rank's predictions, too slow for gradients."""
    group = _require()
    if len(object_list) != group.size:
        raise ValueError(f"minicnn.distributed: all_gather_object: object_list must have one "
                         f"entry per process ({group.size}), got {len(object_list)}")
    # pickled, then two non-blocking collectives (the sizes, then the bytes), so that the
    # wait has the group's timeout as every other collective's
    data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes = np.empty(group.size, dtype=np.int64)
    group.wait(group.comm.Iallgather(np.array([data.size], dtype=np.int64), sizes),
               "all_gather_object")
    everything = np.empty(int(sizes.sum()), dtype=np.uint8)
    group.wait(group.comm.Iallgatherv(data, [everything, sizes]), "all_gather_object")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    object_list[:] = [pickle.loads(everything[bounds[i]:bounds[i + 1]].tobytes())
                      for i in range(group.size)]


def _array_of(tensor, name):
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not hasattr(array, "dtype") or type(array).__module__.split(".")[0] not in ("numpy", "cupy"):
        raise TypeError(f"minicnn.distributed: {name} expects a Tensor or a NumPy/CuPy array, "
                        f"got {type(tensor).__name__}")
    return array


class Work:
    """A started collective (``torch.distributed.Work``): ``wait()`` blocks until its result
    is in the array.  ``request`` is MPI's (None: already complete), waited for by
    ``waiter(request)`` (the group's, with its timeout); ``then(fn)`` queues what must run
    after it (copying a result back, dividing a sum)."""

    def __init__(self, request=None, waiter=None):
        self.request, self.waiter, self.callbacks = request, waiter, []

    def then(self, fn):
        self.callbacks.append(fn)
        return self

    def is_completed(self):
        """Test without blocking (this also lets MPI make progress on the transfer)."""
        return self.request is None or self.request.Test()

    def wait(self):
        if self.request is not None:
            if self.waiter is None:
                self.request.Wait()
            else:
                self.waiter(self.request)
            self.request = None
        for fn in self.callbacks:
            fn()
        self.callbacks = []


# ----- the process group and its transports ---------------------------------------------
class _ProcessGroup:
    """The processes, the communicator they share and how to move each kind of array."""

    def __init__(self, MPI, timeout=DEFAULT_TIMEOUT):
        self.comm = MPI.COMM_WORLD.Dup()      # our own: a user's MPI calls cannot interleave
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)     # the processes on this machine
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.timeout = timeout                # seconds a collective may wait (see wait)
        self.mpi = _MPITransport(self.comm, MPI, self.wait)
        self.gpu = None                        # made on first use of a CuPy array
        self.previous_excepthook = None
        if self.size > 1:
            self.previous_excepthook, sys.excepthook = sys.excepthook, self._abort_job

    def _abort_job(self, kind, value, traceback):
        self.previous_excepthook(kind, value, traceback)    # the traceback first
        sys.stderr.flush()
        print(f"minicnn.distributed: rank {self.rank} failed; aborting all {self.size} "
              "processes", file=sys.stderr, flush=True)
        abort_job(self.comm, 1)

    def wait(self, request, collective="all_reduce"):
        """Wait for a started MPI request; past ``self.timeout`` seconds, print which rank
        and collective timed out, and where, then end the whole job (``MPI_Abort``)."""
        if request.Test():
            return
        start = time.monotonic()
        while not request.Test():           # Test also lets MPI move the data along
            waited = time.monotonic() - start
            if waited > self.timeout:
                self._timed_out(collective)
            time.sleep(0 if waited < 0.01 else 0.001)     # yield, then poll each millisecond

    def _timed_out(self, collective):
        traceback.print_stack(file=sys.stderr)
        print(f"minicnn.distributed: rank {self.rank}: {collective} did not complete within "
              f"{self.timeout:g} s (the group's timeout): another process left the job or "
              "stopped making the same collective calls (a rank that ended early, say with "
              "sys.exit, or had fewer batches than the others); aborting all "
              f"{self.size} processes.  Set the timeout with init_process_group(timeout=...) "
              f"or {TIMEOUT_VARIABLE} (seconds).", file=sys.stderr, flush=True)
        abort_job(self.comm, 1)

    def transport(self, array):
        if backend.get_array_module(array) is np:
            return self.mpi
        if self.gpu is None:
            self.gpu = _gpu_transport(self)
        return self.gpu

    def close(self):
        if self.previous_excepthook is not None and sys.excepthook == self._abort_job:
            sys.excepthook = self.previous_excepthook
        self.comm.Free()


class _MPITransport:
    """NumPy arrays through MPI's buffer interface (non-blocking all-reduce)."""

    def __init__(self, comm, MPI, wait=None):
        self.comm, self.MPI = comm, MPI
        self.ops = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
        self.wait = wait or (lambda request, collective: request.Wait())   # the group's: timed

    def all_reduce(self, array, op):
        # MPI needs one contiguous buffer: a non-contiguous view travels as a copy
        buffer = np.ascontiguousarray(array)
        work = Work(self.comm.Iallreduce(self.MPI.IN_PLACE, buffer, op=self.ops[op]),
                    lambda request: self.wait(request, "all_reduce"))
        return work if buffer is array else work.then(lambda: array.__setitem__(..., buffer))

    def broadcast(self, array, src):
        buffer = np.ascontiguousarray(array)
        self.wait(self.comm.Ibcast(buffer, root=src), "broadcast")
        if buffer is not array:
            array[...] = buffer


class _HostStaging:
    """Device arrays copied to host memory, through MPI, and back: works with any MPI,
    costs two device<->host copies per call.  (Tests stand in ``to_host=numpy.copy`` for
    the GPU-to-host copy, to run this path on NumPy arrays.)"""

    def __init__(self, mpi, to_host=backend.to_numpy):
        self.mpi, self.to_host = mpi, to_host

    @staticmethod
    def copy_back(array, host):
        array[...] = backend.to_device(host, backend.device_of(array))

    def all_reduce(self, array, op):
        host = np.ascontiguousarray(self.to_host(array))
        return self.mpi.all_reduce(host, op).then(lambda: self.copy_back(array, host))

    def broadcast(self, array, src):
        host = np.ascontiguousarray(self.to_host(array))
        self.mpi.broadcast(host, src)
        self.copy_back(array, host)


class _NCCLTransport:
    """CuPy arrays through NCCL (``cupy.cuda.nccl``), GPU to GPU.  The calls are queued on
    the current CUDA stream, so later work on that stream already sees the result."""

    DTYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
              "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8",
              "int8": "NCCL_INT8"}

    def __init__(self, group, nccl, cupy):
        self.nccl, self.cupy = nccl, cupy
        unique_id = nccl.get_unique_id() if group.rank == 0 else None
        unique_id = group.comm.bcast(unique_id, root=0)     # NCCL's rendezvous, through MPI
        self.comm = nccl.NcclCommunicator(group.size, unique_id, group.rank)
        self.ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}

    def _call(self, array, collective, *args):
        if str(array.dtype) not in self.DTYPES:
            raise TypeError(f"minicnn.distributed: NCCL cannot reduce {array.dtype} arrays; "
                            f"supported: {', '.join(self.DTYPES)}")
        buffer = self.cupy.ascontiguousarray(array)
        dtype = getattr(self.nccl, self.DTYPES[str(array.dtype)])
        stream = self.cupy.cuda.get_current_stream().ptr
        collective(buffer.data.ptr, buffer.data.ptr, buffer.size, dtype, *args, stream)
        if buffer is not array:
            array[...] = buffer

    def all_reduce(self, array, op):
        self._call(array, self.comm.allReduce, self.ops[op])
        return Work()

    def broadcast(self, array, src):
        self._call(array, self.comm.broadcast, src)


def _gpu_transport(group):
    """NCCL when CuPy has it and each process on this machine has a GPU of its own (NCCL
    refuses two processes on one GPU); host staging otherwise."""
    cupy = backend.require_cupy()
    from cupy.cuda import nccl
    own_gpu = group.local_size <= cupy.cuda.runtime.getDeviceCount()
    if nccl.available and own_gpu:
        return _NCCLTransport(group, nccl, cupy)
    return _HostStaging(group.mpi)
