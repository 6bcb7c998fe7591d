"""``SyncBatchNorm``: batch norm whose statistics cover the batches of all processes.

With data-parallel training each process sees only its own B images.  Plain BatchNorm
normalises each process's batch with that batch's statistics, so N processes with batch B
train like N separate batches of B.  SyncBatchNorm all-reduces the per-channel statistics,
so they train exactly like one process with batch N*B -- running statistics included.
The arithmetic and the messages are the op's, ``minicnn.functional.sync_batch_norm``
(functional/norm.py, next to batch norm); this layer adds only when to use it.
"""
from .. import distributed as dist
from .normalization import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """Batch norm whose training statistics cover the batches of all processes.

    ``BatchNorm1d``/``BatchNorm2d`` whose training statistics cover all processes (PyTorch's
    name).  In eval mode, or with a single process, it is plain batch norm.  As
    ``torch.nn.SyncBatchNorm``; the layer around ``F.sync_batch_norm``.  With data-parallel
    training each process sees only its own B images: plain BatchNorm normalises with that
    batch's statistics, so N processes train like N separate batches of B.  SyncBatchNorm
    all-reduces the per-channel statistics, so they train exactly like one process with
    batch N*B -- running statistics included.  The usual way in is
    ``SyncBatchNorm.convert_sync_batchnorm(model)`` before wrapping the model in
    ``DistributedDataParallel``.

    Args:
        num_features (int): C, the number of channels.
        eps (float, optional): added to the variance, for numerical safety.
            Default: ``1e-5``
        momentum (float or None, optional): how far the running statistics move towards each
            batch's; None: a cumulative average. Default: ``0.1``
        affine (bool, optional): learn a per-channel scale and shift. Default: ``True``
        track_running_stats (bool, optional): keep running statistics and use them in eval
            mode. Default: ``True``
        device (str, optional): where the parameters and buffers live, ``'cpu'`` or
            ``'cuda'``. Default: ``None`` (the CPU)
        dtype (numpy dtype, optional): their dtype. Default: ``None`` (float32)
        bias (bool, optional, keyword-only): with ``affine``, learn the shift too.
            Default: ``True``

    Shape:
        - Input: (N, C), (N, C, L) or (N, C, H, W).
        - Output: the same shape.

    Example::

        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
        >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        >>> model[1]
        SyncBatchNorm(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
        >>> model(mc.tensor(np.zeros((2, 3, 8, 8), np.float32))).shape    # one process here
        (2, 8, 6, 6)
    """
    expected_dims = (2, 3, 4)

    def _over_all_processes(self):       # eval, or one process: plain batch norm
        return self.training and dist.is_initialized() and dist.get_world_size() > 1

    @classmethod
    def convert_sync_batchnorm(cls, module):
        """Replace every BatchNorm1d/2d in ``module`` by a SyncBatchNorm holding the *same*
        parameter and buffer tensors (an optimizer built earlier stays valid); returns the
        converted module (a new object only when ``module`` itself is a batch norm)."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            converted = cls(module.num_features, module.eps, module.momentum, module.affine,
                            module.track_running_stats, bias=module.bias is not None)
            converted._parameters.update(module._parameters)
            converted._buffers.update(module._buffers)
            converted._non_persistent_buffers.update(module._non_persistent_buffers)
            converted.train(module.training)
            return converted
        for name, child in module._modules.items():
            if child is not None:         # in place in the table: the children keep their order
                module._modules[name] = cls.convert_sync_batchnorm(child)
        return module
