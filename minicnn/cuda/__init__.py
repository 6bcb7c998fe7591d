"""minicnn on NVIDIA GPUs: device queries and the hand-written CUDA kernels.

    import minicnn as mc
    mc.cuda.is_available()        # CuPy installed and a GPU visible?
    mc.cuda.ops().im2col(x, 3)    # the kernels as array functions, on CuPy arrays

Nothing here imports CuPy until it is needed, so ``import minicnn`` works without it.
Array memory comes from CuPy's default memory pool, which keeps freed blocks for
reuse (fast, but ``nvidia-smi`` shows the pool's size, not what is in use); call
``empty_cache()`` to hand unused blocks back to the driver.
"""
from .. import backend, dispatch
from .launch import KernelOps

_ops = None


def is_available():
    """True when CuPy imports and sees at least one CUDA GPU."""
    return backend.cuda_available()


def device_count():
    """Number of visible CUDA GPUs (0 without CuPy)."""
    return backend.require_cupy().cuda.runtime.getDeviceCount() if is_available() else 0


def synchronize():
    """Wait until the GPU has finished all queued work (kernels run asynchronously)."""
    backend.require_cupy().cuda.get_current_stream().synchronize()


def empty_cache():
    """Return the unused blocks of CuPy's memory pool to the driver."""
    backend.require_cupy().get_default_memory_pool().free_all_blocks()


def ops():
    """The CUDA kernels as array functions on CuPy arrays (``KernelOps``), built on first
    use; the kernels themselves compile on first launch, once per process."""
    global _ops
    if _ops is None:
        from .loader import CupyLoader
        cupy = backend.require_cupy()
        _ops = KernelOps(cupy, CupyLoader(cupy))
    return _ops


dispatch.provide_cuda_ops(ops)

__all__ = ["is_available", "device_count", "synchronize", "empty_cache", "ops", "KernelOps"]
