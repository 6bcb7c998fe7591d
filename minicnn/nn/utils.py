"""``minicnn.nn.utils``: helpers on a model's gradients and weights (``torch.nn.utils``'s names).

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=2.0)    # Inception v3's threshold
    optimizer.step()

    fast = fuse_conv_bn_eval_model(model.eval(), images)  # batch norms folded, for inference
"""
import copy
import math

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from .conv import Conv2d
from .linear import Identity
from .module import Parameter
from .normalization import BatchNorm2d


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


# ----- batch norm folded into the convolution before it (inference only) ---------------------
def fuse_conv_bn_eval(conv, bn):
    """A copy of ``conv`` that computes ``bn(conv(x))`` of the eval-mode pair in one convolution.

    As ``torch.nn.utils.fuse_conv_bn_eval``.  In eval mode batch norm is a fixed affine map
    per channel, ``y = (z - mean) * s + beta`` with ``s = gamma / sqrt(var + eps)``, and the
    convolution ``z = W * x + b`` is linear, so the two are one convolution with
    ``W' = W * s`` (each output channel's filter scaled) and ``b' = (b - mean) * s + beta``:
    one pass over the activations instead of two.  The new weights are computed in float64
    and rounded once to the convolution's dtype.  The copy is for inference: training
    would update ``W'``, not the pair.

    Args:
        conv (nn.Conv2d): the convolution, in eval mode (``conv.eval()``).
        bn (nn.BatchNorm2d): the batch norm that takes ``conv``'s output, in eval mode, with
            running statistics (``track_running_stats=True``).

    Returns:
        nn.Conv2d: a new convolution (with a bias, even if ``conv`` had none); ``conv`` and
        ``bn`` are unchanged.

    Example::

        >>> conv, bn = nn.Conv2d(3, 4, 3, bias=False).eval(), nn.BatchNorm2d(4).eval()
        >>> bn.running_mean.data[:] = 0.5
        >>> fused = nn.utils.fuse_conv_bn_eval(conv, bn)
        >>> x = mc.tensor(np.ones((1, 3, 5, 5), np.float32))
        >>> bool(np.allclose(fused(x).numpy(), bn(conv(x)).numpy(), atol=1e-6))
        True
    """
    where = "minicnn.nn.utils.fuse_conv_bn_eval"
    if not isinstance(conv, Conv2d) or not isinstance(bn, BatchNorm2d):
        raise TypeError(f"{where}: expected an nn.Conv2d and an nn.BatchNorm2d, got "
                        f"{type(conv).__name__} and {type(bn).__name__}")
    if conv.training or bn.training:
        raise ValueError(f"{where}: folding is for eval mode only (training updates the "
                         "batch statistics the fold bakes in); call model.eval() first")
    if bn.running_mean is None:
        raise ValueError(f"{where}: {bn!r} has no running statistics (track_running_stats="
                         "False): it normalises with each batch's own, which no fixed "
                         "convolution can compute")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"{where}: the batch norm has {bn.num_features} channels, the "
                         f"convolution {conv.out_channels} output channels")
    xp = backend.get_array_module(conv.weight.data)
    dtype = conv.weight.data.dtype

    def wide(tensor, default):           # float64 copy of a per-channel vector
        return xp.full(bn.num_features, default) if tensor is None else tensor.data.astype(np.float64)

    scale = wide(bn.weight, 1.0) / xp.sqrt(wide(bn.running_var, 0.0) + bn.eps)      # (C,)
    bias = (wide(conv.bias, 0.0) - wide(bn.running_mean, 0.0)) * scale + wide(bn.bias, 0.0)
    fused = copy.deepcopy(conv)
    fused.weight = Parameter((conv.weight.data.astype(np.float64)
                              * scale.reshape(-1, 1, 1, 1)).astype(dtype))        # (C, Cin/g, kh, kw)
    fused.bias = Parameter(bias.astype(dtype))                                      # (C,)
    return fused


def fuse_conv_bn_eval_model(model, example_input, inplace=False):
    """An eval-mode copy of ``model`` with every batch norm folded into the convolution before it.

    Each ``nn.Conv2d`` whose output goes straight into an ``nn.BatchNorm2d`` becomes
    ``fuse_conv_bn_eval(conv, bn)`` and the batch norm an ``nn.Identity``: the copy computes
    the same function with one pass less over each such activation (VGG-BN, ResNet,
    Inception, MobileNet).  minicnn has no tracer that reads ``forward``'s code, so the pairs
    are found by running ``example_input`` once (forward hooks see which batch norm takes
    which convolution's output), and the copy is checked against ``model`` on it: equal
    within the dtype's rounding, or an error.  ``model`` itself is not changed, unless
    ``inplace``: then its modules are replaced (no copy of the weights; put back if the
    check fails), as ``minicnn evaluate`` and ``predict`` do with the model they loaded.

    PyTorch does this with ``torch.fx`` (``torch.fx.experimental.optimization.fuse``); its
    ``torch.nn.utils.fuse_conv_bn_eval`` folds one pair, as ``fuse_conv_bn_eval`` here.

    Args:
        model (nn.Module): in eval mode, every sub-module included.
        example_input (Tensor or tuple of Tensors): an input of the model (one image is
            enough); its values do not matter.
        inplace (bool, optional): fold into ``model`` itself instead of a copy.
            Default: ``False``

    Returns:
        nn.Module: the folded copy (``model`` itself with ``inplace``), in eval mode.

    Raises:
        ValueError: a module in training mode; a folded pair called more than once per
            forward (shared), or a convolution whose output is used by more than its
            batch norm (the other user would see the folded values): named in the message.

    Example::

        >>> model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU()).eval()
        >>> x = mc.tensor(np.ones((1, 3, 8, 8), np.float32))
        >>> fused = nn.utils.fuse_conv_bn_eval_model(model, x)
        >>> fused
        Sequential(
          (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
          (1): Identity()
          (2): ReLU()
        )
    """
    where = "minicnn.nn.utils.fuse_conv_bn_eval_model"
    training = [name or type(model).__name__ for name, m in model.named_modules() if m.training]
    if training:
        raise ValueError(f"{where}: folding is for eval mode only; in training mode: "
                         f"{', '.join(training[:3])}{' ...' if len(training) > 3 else ''} "
                         "(call model.eval() first)")
    inputs = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    pairs = _conv_bn_pairs(model, inputs, where)
    reference = _outputs(model, inputs)
    fused, undo = _fold(model if inplace else copy.deepcopy(model), pairs)
    if not _same(reference, _outputs(fused, inputs)):
        undo()
        wrong = [pair for pair in pairs if not _same(reference, _outputs(_folded_copy(model, [pair]), inputs))]
        named = ", ".join(f"{bn} into {conv}" for conv, bn in wrong) or "every pair"
        raise ValueError(f"{where}: folding {named} changes the model's output: the "
                         "convolution's output is used by more than its batch norm, so it "
                         "cannot be folded")
    return fused


def _conv_bn_pairs(model, inputs, where):
    """[(conv name, bn name)] of every BatchNorm2d whose input is a Conv2d's output, seen by
    running ``inputs`` through ``model`` once."""
    names = {id(m): name for name, m in model.named_modules()}
    made_by, calls, pairs, handles = {}, {}, [], []

    def after_conv(module, args, output):
        calls[names[id(module)]] = calls.get(names[id(module)], 0) + 1
        made_by[id(output)] = (names[id(module)], output)     # the output kept: its id stays its own

    def before_bn(module, args):
        calls[names[id(module)]] = calls.get(names[id(module)], 0) + 1
        maker = made_by.get(id(args[0]))
        if maker is not None and maker[1] is args[0]:
            pairs.append((maker[0], names[id(module)]))

    for module in model.modules():
        if isinstance(module, Conv2d):
            handles.append(module.register_forward_hook(after_conv))
        elif isinstance(module, BatchNorm2d):
            handles.append(module.register_forward_pre_hook(before_bn))
    try:
        with no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    shared = [name for pair in pairs for name in pair if calls[name] > 1]
    if shared:
        raise ValueError(f"{where}: {', '.join(shared)} runs {calls[shared[0]]} times in one "
                         "forward (a shared module): its fold would apply to every use; "
                         "not folded")
    return pairs


def _folded_copy(model, pairs):
    return _fold(copy.deepcopy(model), pairs)[0]


def _fold(model, pairs):
    """Replace each pair's convolution by the folded one and its batch norm by Identity, in
    ``model``; returns (model, undo), undo() putting the original modules back."""
    replaced = []
    for conv_name, bn_name in pairs:
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        for name, module in ((conv_name, fuse_conv_bn_eval(conv, bn)), (bn_name, Identity())):
            parent, _, attribute = name.rpartition(".")
            modules = model.get_submodule(parent)._modules
            replaced.append((modules, attribute, modules[attribute]))
            modules[attribute] = module                              # in place: keeps the order

    def undo():
        for modules, attribute, original in reversed(replaced):
            modules[attribute] = original
    return model, undo


def _outputs(model, inputs):
    with no_grad():
        out = model(*inputs)
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


def _same(reference, result):
    """Equal within the rounding of the fold (a few units of the dtype's precision, relative to
    the outputs' size): a wrongly folded pair changes outputs by their own size."""
    for a, b in zip(reference, result):
        tol = 1e-9 if a.dtype == np.float64 else 1e-3
        if not np.allclose(b, a, rtol=tol, atol=tol * max(1.0, float(np.abs(a).max(initial=0)))):
            return False
    return True
