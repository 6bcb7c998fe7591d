"""Adam and AdamW: momentum plus a per-element step size from running averages.

PyTorch's formulation, at step ``t`` (starting at 1):

    Adam:   g <- g + weight_decay * p         (L2 penalty: passes through m and v)
    AdamW:  p <- p * (1 - lr * weight_decay)  (decoupled decay: shrinks p directly)
    m <- b1 * m + (1 - b1) * g                (first moment: momentum)
    v <- b2 * v + (1 - b2) * g^2              (second moment)
    amsgrad: v_max <- max(v_max, v), and v_max is used instead of v below
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

The ``1 - b^t`` factors undo the bias of starting ``m`` and ``v`` at zero.  Note
``eps`` is added after the bias correction of ``sqrt(v)``, as PyTorch does.

The step itself is the kernel ``adam_update`` (``adam_update_numpy`` below; minicnn/cpu/optim.py
makes the same update in one pass over the memory).
"""
from .. import backend, dispatch
from .optimizer import Optimizer
from .sgd import _check_nonnegative


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        _check_nonnegative(name, group, "lr", "eps", "weight_decay")
        for i, beta in enumerate(group["betas"]):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"minicnn: {name}: invalid beta parameter at index {i}: "
                                 f"{beta!r} (expected 0 <= beta < 1)")

    def _update(self, param, grad, state, group):
        xp = backend.get_array_module(param)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        dispatch.kernel("adam_update", param)(
            param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
            state["step"], group["lr"], *group["betas"], group["eps"], group["weight_decay"],
            group["amsgrad"], group["maximize"], group["decoupled_weight_decay"])


@dispatch.register("adam_update", "numpy")
def adam_update_numpy(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2,
                      eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
    """One Adam step on arrays, in place: ``param`` and the moments (``max_exp_avg_sq``
    only with ``amsgrad``, else None); ``step`` counts from 1."""
    xp = backend.get_array_module(param)
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param
    exp_avg += (1 - beta1) * (grad - exp_avg)                # lerp towards grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    else:
        second = exp_avg_sq
    denom = xp.sqrt(second) / bias_correction2_sqrt + eps
    param -= step_size * (exp_avg / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): the decay shrinks the
    weights directly instead of being added to the gradient, so it is not rescaled
    by Adam's per-element step sizes.  Default ``weight_decay=1e-2`` as in PyTorch."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
