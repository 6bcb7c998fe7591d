"""``minicnn.nn.utils``: helpers on a model's gradients (``torch.nn.utils``'s names).

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=2.0)    # Inception v3's threshold
    optimizer.step()
"""
import math

import numpy as np

from .. import backend
from ..autograd import Tensor


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Clip the gradients' total norm to ``max_norm``, in place.

    Scale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``; returns the total norm before clipping (a 0-d Tensor), as
    ``torch.nn.utils.clip_grad_norm_``.

    The total norm treats all the gradients as one long vector: the ``norm_type``-norm of
    the per-parameter norms (``inf``: the largest absolute value).  Every gradient is
    multiplied by ``min(1, max_norm / (total + 1e-6))``, so the direction of the step is
    kept and only its length is limited (Pascanu et al. 2013; the 1e-6 is PyTorch's, to
    avoid dividing by zero).  Parameters without a gradient are skipped.  A non-finite total
    norm is a ``RuntimeError`` with ``error_if_nonfinite=True``; otherwise the gradients
    are scaled by it anyway (and become NaN), as in PyTorch.

    Args:
        parameters (Tensor or iterable of Tensors): the parameters whose ``.grad`` to clip,
            usually ``model.parameters()``.
        max_norm (float): the largest total norm allowed.
        norm_type (float, optional): the order p of the norms (``math.inf`` for the max
            norm). Default: ``2.0``
        error_if_nonfinite (bool, optional): raise a ``RuntimeError`` when the total norm is
            NaN or infinite. Default: ``False``

    Example::

        >>> p, q = nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(1, np.float32))
        >>> p.grad, q.grad = mc.tensor([3.0, 4.0]), mc.tensor([12.0])
        >>> nn.utils.clip_grad_norm_([p, q], max_norm=1.0)        # sqrt(9 + 16 + 144)
        tensor(13., dtype=float32)
        >>> print(p.grad.numpy().round(4), q.grad.numpy().round(4))     # divided by 13
        [0.2308 0.3077] [0.9231]
    """
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad.data for p in params if p.grad is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    xp = backend.get_array_module(grads[0])
    if norm_type == math.inf:
        norms = xp.stack([xp.abs(g).max() for g in grads])        # (parameters,)
        total = norms.max()
    else:
        norms = xp.stack([xp.linalg.norm(g.ravel(), ord=norm_type) for g in grads])
        total = xp.linalg.norm(norms, ord=norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"minicnn: clip_grad_norm_: the total norm of order {norm_type} of "
                           f"the gradients is {float(total)}, so it cannot be clipped; pass "
                           "error_if_nonfinite=False to scale the gradients by it anyway")
    scale = xp.minimum(max_norm / (total + 1e-6), 1.0)             # no sync: stays on device
    for g in grads:
        g *= scale.astype(g.dtype)
    return Tensor(total)
